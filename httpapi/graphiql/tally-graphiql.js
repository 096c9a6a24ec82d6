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
  try {
    var fetcher = GraphiQL.createFetcher({ url: location.origin + '/query' });
    var element = React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: false,
    });
    ReactDOM.createRoot(root).render(element);
  } catch (e) {
    fail('GraphiQL failed to start (' + (e && e.message ? e.message : e) + ').');
  }
})();
