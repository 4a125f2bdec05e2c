export * from "./ModelRollout.js";
export * from "./StyleRollout.js";
