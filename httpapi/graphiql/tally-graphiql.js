// Starts GraphiQL on this server's /query, from the copies of GraphiQL and
// React that the server embeds (no network needed). If they did not load,
// says so at once instead of leaving the page on "Loading".
(function () {
  'use strict';
  var root = document.getElementById('graphiql');
  function fail(why) {
    var el = document.getElementById('tally-graphiql-failed');
    if (el) {
      el.className = 'tally-late tally-failed';
      el.insertAdjacentText('afterbegin', why + ' ');
    }
  }
  if (!window.React || !window.ReactDOM || !window.GraphiQL) {
    fail('GraphiQL\u2019s scripts did not load.');
    return;
  }
  // What the editor shows on a first visit (GraphiQL keeps the user's own
  // query in the browser's storage after that): how to get a token, where it
  // goes, and a first query that needs it.
  var firstQuery = [
    '# Welcome to Tally. Run an operation with the run',
    '# button (or Ctrl-Enter in it).',
    '#',
    '# 1. Run SignUp (or LogIn, once the account exists)',
    '#    and copy "token" from the answer.',
    '# 2. The token goes in the Headers tab below this',
    '#    editor, as:',
    '#      {"Authorization": "Bearer <the token>"}',
    '# 3. Run Me.',
    '',
    'mutation SignUp {',
    '  signUp(input: {',
    '    email: "ann@example.com"',
    '    password: "correct horse"',
    '    displayName: "Ann"',
    '    role: STREAMER',
    '  }) {',
    '    token',
    '  }',
    '}',
    '',
    'mutation LogIn {',
    '  logIn(input: {',
    '    email: "ann@example.com"',
    '    password: "correct horse"',
    '  }) {',
    '    token',
    '  }',
    '}',
    '',
    'query Me {',
    '  me { id email displayName role }',
    '}',
    '',
  ].join('\n');
  try {
    var fetcher = GraphiQL.createFetcher({ url: location.origin + '/query' });
    var element = React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: firstQuery,
      defaultEditorToolsVisibility: 'headers',
      shouldPersistHeaders: false,
    });
    ReactDOM.createRoot(root).render(element);
  } catch (e) {
    fail('GraphiQL failed to start (' + (e && e.message ? e.message : e) + ').');
  }
})();
