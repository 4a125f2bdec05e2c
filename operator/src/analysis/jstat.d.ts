// The part of jStat (https://github.com/jstat/jstat, no bundled types) that analysis uses.
declare module 'jstat' {
  const jStat: {
    beta: {
      /** Quantile: x with P(X ≤ x) = p for X ~ Beta(alpha, beta). */
      inv(p: number, alpha: number, beta: number): number;
    };
  };
  export default jStat;
}
