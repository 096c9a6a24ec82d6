package server

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"tally/foundation/tracing"
	"tally/server/config"
)

// TestHelpListsEverything: tally --help names every command, every flag and
// its variable, and docs/configuration.md documents every variable it lists.
func TestHelpListsEverything(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := Run(context.Background(), []string{"--help"}, func(string) string { return "" }, &out); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	readme, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(help, "docs/configuration.md") {
		t.Error("--help does not point to docs/configuration.md, where the settings are described")
	}
	for _, cmd := range commandNames() {
		if !regexp.MustCompile(`(?m)^  ` + cmd + `\b`).MatchString(help) {
			t.Errorf("--help does not list the command %s", cmd)
		}
	}
	for _, f := range config.Flags() {
		env := config.EnvName(f)
		if !strings.Contains(help, "-"+f+", "+env) {
			t.Errorf("--help does not list -%s / %s", f, env)
		}
		if !bytes.Contains(readme, []byte("`"+env+"`")) || !bytes.Contains(readme, []byte("`-"+f+"`")) {
			t.Errorf("docs/configuration.md does not document %s / -%s", env, f)
		}
	}
	for _, v := range append(tracing.Variables, runtimeVariables...) {
		if !strings.Contains(help, v.Name) {
			t.Errorf("--help does not list %s", v.Name)
		}
	}
	for _, v := range runtimeVariables {
		if !bytes.Contains(readme, []byte("`"+v.Name)) {
			t.Errorf("docs/configuration.md does not document %s", v.Name)
		}
	}
	for _, arg := range []string{"-h", "-help"} {
		out.Reset()
		if err := Run(context.Background(), []string{arg}, func(string) string { return "" }, &out); err != nil || out.String() != help {
			t.Errorf("%s: err %v, output differs from --help", arg, err)
		}
	}
	out.Reset()
	if err := Run(context.Background(), []string{"version"}, func(string) string { return "" }, &out); err != nil || !strings.HasPrefix(out.String(), "tally ") {
		t.Errorf("version: %v %q", err, out.String())
	}
}

// TestSecretOnlyForServe: on MongoDB without JWT_SECRET, serve stops at once
// naming it, while verify and make-admin (which sign nothing) go on to the
// store, as docs/operations.md runs them: here with a context already ended,
// so they fail at once, but on the store and not on the secret.
func TestSecretOnlyForServe(t *testing.T) {
	t.Parallel()
	getenv := func(k string) string {
		return map[string]string{"MONGODB_URI": "mongodb://127.0.0.1:1/"}[k]
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if err := Run(ended, nil, getenv, &out); err == nil || !strings.Contains(err.Error(), "JWT_SECRET") {
		t.Errorf("serve: %v, want an error naming JWT_SECRET", err)
	}
	for _, args := range [][]string{{"verify"}, {"make-admin", "ann@example.com"}} {
		err := Run(ended, args, getenv, &out)
		if err == nil || strings.Contains(err.Error(), "JWT_SECRET") {
			t.Errorf("%s: %v, want the store's error, not one about JWT_SECRET", args[0], err)
		}
	}
}
