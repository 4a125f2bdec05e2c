// The part of jStat (https://github.com/jstat/jstat, no bundled types) that analysis uses.
declare module 'jstat' {
  const jStat: {
    beta: {
      /** Quantile: x with P(X ≤ x) = p for X ~ Beta(alpha, beta). */
      inv(p: number, alpha: number, beta: number): number;
    };
    normal: {
      /** P(X ≤ x) for X ~ N(mean, sd²). */
      cdf(x: number, mean: number, sd: number): number;
      /** Quantile of N(mean, sd²). */
      inv(p: number, mean: number, sd: number): number;
    };
    studentt: {
      /** P(T ≤ t) for Student's t with dof degrees of freedom. */
      cdf(t: number, dof: number): number;
      inv(p: number, dof: number): number;
    };
    chisquare: {
      /** P(X ≤ x) for χ² with dof degrees of freedom. */
      cdf(x: number, dof: number): number;
    };
  };
  export default jStat;
}
