export * as modelrolloutDev from "./modelrollout.dev/index.js";
