// Runs real npm clients against Tally's /query (the URL and a session token
// as arguments) and prints one JSON line of what each saw. Driven by
// e2e_npm_clients_test.go (go test); dev-only.
//
//   - Apollo Client 4: PersistedQueryLink (automatic persisted queries, GET
//     for hashed queries) over HttpLink; BatchHttpLink.
//   - graphql-request 7: batchRequests.
import { createHash } from 'node:crypto';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { BatchHttpLink } from '@apollo/client/link/batch-http';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLClient } from 'graphql-request';

const [url, token] = process.argv.slice(2);
const sha256 = (s) => createHash('sha256').update(s).digest('hex');
const seen = [];
const countingFetch = (label) => async (input, init) => {
  const res = await fetch(input, init);
  seen.push({ client: label, method: init?.method ?? 'GET', status: res.status, batch: typeof init?.body === 'string' && init.body.startsWith('[') });
  return res;
};
const headers = { authorization: `Bearer ${token}` };
const out = {};

// Automatic persisted queries: the first query misses and is sent again
// with its text; a second client's identical query is answered by hash.
const ME = gql`query Me { me { email } }`;
for (const n of [1, 2]) {
  const client = new ApolloClient({
    cache: new InMemoryCache(),
    link: ApolloLink.from([
      new PersistedQueryLink({ sha256, useGETForHashedQueries: true }),
      new HttpLink({ uri: url, headers, fetch: countingFetch(`apq${n}`) }),
    ]),
  });
  const r = await client.query({ query: ME, fetchPolicy: 'network-only' });
  out[`apq${n}`] = { email: r.data?.me?.email ?? null, requests: seen.filter((s) => s.client === `apq${n}`) };
}

// BatchHttpLink: two queries issued together go as one array body.
{
  const client = new ApolloClient({
    cache: new InMemoryCache(),
    link: new BatchHttpLink({ uri: url, headers, batchMax: 10, batchInterval: 20, fetch: countingFetch('batch') }),
  });
  const [a, b] = await Promise.all([
    client.query({ query: gql`query A { me { email } }`, fetchPolicy: 'network-only' }),
    client.query({ query: gql`query B { __typename }`, fetchPolicy: 'network-only' }),
  ]);
  out.batch = { a: a.data?.me?.email ?? null, b: b.data?.__typename ?? null, requests: seen.filter((s) => s.client === 'batch') };
}

// graphql-request's batchRequests.
{
  const client = new GraphQLClient(url, { headers, fetch: countingFetch('gqlrequest') });
  const res = await client.batchRequests([
    { document: 'query C { me { email } }' },
    { document: 'query D($n: String!) { __type(name: $n) { name } }', variables: { n: 'User' } },
  ]);
  out.graphqlRequest = { results: res.map((r) => r.data), requests: seen.filter((s) => s.client === 'gqlrequest') };
}

console.log(JSON.stringify(out));
