/**
 * On-demand list prices of the catalog's instances: Linux, US East (N. Virginia, us-east-1), USD per
 * instance-hour, from the EC2 On-Demand pricing page (https://aws.amazon.com/ec2/pricing/on-demand/).
 * P4d and P5 are the prices after AWS's June 2025 reduction of its NVIDIA GPU instances (P5 −44 %,
 * P4d −33 %). An instance that is missing is not sold on demand in us-east-1 or its price is not
 * recorded here (trn2, p5e, p5en: Capacity Blocks or other regions); `herd plan` prints
 * "price unknown" for it. Prices change: they rank alternatives, they are no quote.
 * @module
 */
import type { InstanceType } from "./instances.js";

export const PRICE_SOURCE = "https://aws.amazon.com/ec2/pricing/on-demand/ (Linux, us-east-1, on-demand)";

const ON_DEMAND_USD_PER_HOUR: Readonly<Record<string, number>> = {
  "trn1.32xlarge": 21.5,
  "inf2.48xlarge": 12.98127,
  "p5.48xlarge": 55.04,
  "p4d.24xlarge": 21.96,
  "g6e.xlarge": 1.861,
  "g6e.12xlarge": 10.49264,
  "g6e.24xlarge": 15.06559,
  "g6e.48xlarge": 30.13118,
  "g5.xlarge": 1.006,
  "g5.12xlarge": 5.672,
  "g5.48xlarge": 16.288,
  "m7i.xlarge": 0.2016,
  "m7i.4xlarge": 0.8064,
  "m7i.48xlarge": 9.6768,
  "c7i.48xlarge": 8.568,
  "r7i.48xlarge": 12.7008,
  "r7iz.32xlarge": 11.904,
  "x2iedn.32xlarge": 26.676,
  "m7g.16xlarge": 2.6112,
  "r7g.16xlarge": 3.4272,
};

/** USD per hour on demand in us-east-1, or null when unknown. */
export function hourlyPrice(i: InstanceType | string): number | null {
  return ON_DEMAND_USD_PER_HOUR[typeof i === "string" ? i : i.name] ?? null;
}

/** "$55.04/h" or "price unknown". */
export function fmtPrice(usd: number | null): string {
  return usd === null ? "price unknown" : `$${usd.toFixed(2)}/h`;
}
