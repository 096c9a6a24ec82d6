// Runs the graphql-http server audit against the URL given as the first
// argument and prints one JSON line: every audit's id, name and status.
// Driven by graphqlhttp_audit_test.go (go test); dev-only.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs URL');
  process.exit(2);
}
const results = await auditServer({ url });
console.log(JSON.stringify(results.map((r) => ({
  id: r.id,
  name: r.name,
  status: r.status,
  reason: r.status === 'ok' ? undefined : r.reason,
}))));
