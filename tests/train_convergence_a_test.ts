import { convergenceTest, noBaselineContrastTest } from "./helpers/convergence.ts";

convergenceTest("atb", "learned");
convergenceTest("akl", "learned");
convergenceTest("akl", "loo-logw");
convergenceTest("akl", "loo-logz");
noBaselineContrastTest();
