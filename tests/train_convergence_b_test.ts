import { convergenceTest } from "./helpers/convergence.ts";

convergenceTest("akl", "opt-scalar");
convergenceTest("akl", "opt-vector");
convergenceTest("akl", "opt-scalar-loo");
convergenceTest("akl", "opt-vector-loo");
