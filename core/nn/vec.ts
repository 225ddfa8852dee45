/** A dense vector/matrix buffer. Row-major matrices are stored flat. */
export type Vec = Float32Array | Float64Array;
