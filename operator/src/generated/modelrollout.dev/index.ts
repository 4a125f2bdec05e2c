export * as v1alpha1 from "./v1alpha1/index.js";
