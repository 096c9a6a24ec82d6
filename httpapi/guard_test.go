package httpapi

import (
	"context"
	"errors"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestGuardRootFieldRecovers: a panic in the root-field guard (here
// gqlparser's ArgumentMap on an argument that does not coerce) comes back as
// the executor's recovered error; gqlgen does not recover around root-field
// middleware, and a panic there would end the process.
func TestGuardRootFieldRecovers(t *testing.T) {
	recovered := errors.New("recovered")
	ctx := graphql.WithOperationContext(context.Background(), &graphql.OperationContext{
		Operation:   &ast.OperationDefinition{Operation: ast.Query},
		RecoverFunc: func(context.Context, any) error { return recovered },
	})
	field := graphql.CollectedField{Field: &ast.Field{
		Name:       "overlay",
		Arguments:  ast.ArgumentList{{Name: "browserSourceToken", Value: &ast.Value{Kind: ast.IntValue, Raw: "not a number"}}},
		Definition: &ast.FieldDefinition{Name: "overlay", Arguments: ast.ArgumentDefinitionList{{Name: "browserSourceToken", Type: ast.NamedType("Int", nil)}}},
	}}
	err := guardRootField(ctx, TokenLimits{}, &graphql.RootFieldContext{Object: "overlay", Field: field})
	if !errors.Is(err, recovered) {
		t.Fatalf("guardRootField = %v, want the recovered error", err)
	}
}
