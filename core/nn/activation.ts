/** The hidden activations of every network (policy, value, backward policy, energy). */
export const ACTIVATIONS = ["swish", "relu", "elu", "tanh"] as const;
export type Activation = typeof ACTIVATIONS[number];
