// Dev-only: Apollo Server 5 with a static `me`, the comparison of the me
// benchmark (bench_me_test.go, TALLY_BENCH_ME=1). It prints
// "BENCH-SERVER url token email" as the Go bench servers do, then serves
// until killed. Same query, same answer shape; no store, no auth.
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";

const email = process.env.TALLY_BENCH_ME_EMAIL || "bench@example.com";
const typeDefs = `#graphql
  enum Role { STREAMER BRAND ADMIN }
  enum Strategy { FAIR_ROTATION HIGHEST_PAYING PERFORMANCE WEIGHTED }
  type PriorityWeights { paymentRate: Float! performance: Float! fairness: Float! }
  type BlackoutPeriod { daysOfWeek: [String!]! startTime: String! endTime: String! timezone: String! reason: String }
  type RotationSettings { preferredStrategy: Strategy! rotationIntervalMinutes: Int!
    priorityWeights: PriorityWeights! blackoutPeriods: [BlackoutPeriod!]! }
  type User { id: ID! email: String displayName: String! role: Role! createdAt: String!
    campaignSelectionStrategy: Strategy campaignRotationSettings: RotationSettings }
  type Query { me: User! }
`;
const me = {
  id: "6b0e000000000000000000aa", email, displayName: "Bench", role: "STREAMER",
  createdAt: "2026-11-23T12:00:00Z", campaignSelectionStrategy: "FAIR_ROTATION",
  campaignRotationSettings: { preferredStrategy: "FAIR_ROTATION", rotationIntervalMinutes: 3,
    priorityWeights: { paymentRate: 0.4, performance: 0.3, fairness: 0.3 }, blackoutPeriods: [] },
};
const server = new ApolloServer({ typeDefs, resolvers: { Query: { me: () => me } } });
const { url } = await startStandaloneServer(server, { listen: { host: "127.0.0.1", port: 0 } });
console.log(`BENCH-SERVER ${url.replace(/\/$/, "")} none ${email}`);
