// Command tally serves Tally's GraphQL API.
//
//	go run .                      serve (embedded store under ./data unless MONGODB_URI is set)
//	go run . make-admin EMAIL     make an existing user an admin
//	go run . verify [-repair]     check every counter and amount against the stored events
//	go run . migrate --to URI     copy the embedded store (DATA_DIR) to MongoDB at URI
//	go run . version              print the version
//	go run . --help               list every command, flag and variable
//
// Configuration comes from the environment or flags of the same meaning; see
// package config and the README. Everything else is package server.
package main

import "tally/server"

// gqlgen regenerates graph/ and resolvers/ stubs from schema/ (gqlgen.yml).
//go:generate go tool gqlgen generate

func main() { server.Main() }
