export * from "./ModelRollout.js";
