package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestApolloTypePoliciesMatchTheSchema keeps docs/apollo.md true to the
// schema: every type its cache names exists, every object type without an
// id has a policy (or is a root, a payload or a connection, which need
// none), and every connection field is paged with relayStylePagination.
func TestApolloTypePoliciesMatchTheSchema(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(repoRoot, "schema", "*.graphqls"))
	if err != nil || len(files) == 0 {
		t.Fatalf("schema files: %v", err)
	}
	var sources []*ast.Source
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, &ast.Source{Name: f, Input: string(b)})
	}
	schema, gerr := gqlparser.LoadSchema(sources...)
	if gerr != nil {
		t.Fatalf("schema: %v", gerr)
	}
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "apollo.md"))
	if err != nil {
		t.Fatal(err)
	}
	cache := string(doc)
	if i := strings.Index(cache, "new InMemoryCache("); i >= 0 {
		cache = cache[i:]
		cache = cache[:strings.Index(cache, "\n});")]
	} else {
		t.Fatal("docs/apollo.md has no InMemoryCache")
	}

	policies := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^    (\w+): (?:value|\{)`).FindAllStringSubmatch(cache, -1) {
		policies[m[1]] = true
	}
	for name := range policies {
		if d := schema.Types[name]; d == nil || (d.Kind != ast.Object && d.Kind != ast.Interface) {
			t.Errorf("docs/apollo.md has a policy for %s, which is no object type of the schema", name)
		}
	}
	for name, d := range schema.Types {
		if d.Kind != ast.Object || d.BuiltIn || strings.HasPrefix(name, "__") || d.Fields.ForName("id") != nil {
			continue
		}
		switch {
		case name == "Query" || name == "Mutation" || name == "Subscription":
		case strings.HasSuffix(name, "Payload"), strings.HasSuffix(name, "Connection"):
		case !policies[name]:
			t.Errorf("%s has no id and no type policy in docs/apollo.md", name)
		}
	}
	for name, d := range schema.Types {
		if d.Kind != ast.Object {
			continue
		}
		for _, f := range d.Fields {
			if !strings.HasSuffix(f.Type.Name(), "Connection") {
				continue
			}
			re := regexp.MustCompile(`(?s)\b` + name + `: \{\s*fields: \{[^}]*\b` + f.Name + `: relayStylePagination\(`)
			if !re.MatchString(cache) {
				t.Errorf("%s.%s is a connection without relayStylePagination in docs/apollo.md", name, f.Name)
			}
		}
	}
	node := regexp.MustCompile(`Node: \[([^\]]*)\]`).FindStringSubmatch(cache)
	var want []string
	for _, d := range schema.PossibleTypes["Node"] {
		want = append(want, `"`+d.Name+`"`)
	}
	if node == nil || len(strings.Split(node[1], ",")) != len(want) {
		t.Errorf("possibleTypes Node: got %v, want the %d types %v", node, len(want), want)
	}
	for _, w := range want {
		if node != nil && !strings.Contains(node[1], w) {
			t.Errorf("possibleTypes Node lacks %s", w)
		}
	}
}
