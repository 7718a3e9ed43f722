// Command coffer is Coffer's single binary: `coffer serve` runs the server;
// every other verb is a client of it (see `coffer help`).
package main

import (
	"context"
	"os"

	"github.com/coffer-vault/coffer/internal/cli"
	"github.com/coffer-vault/coffer/internal/server"
)

func main() {
	ctx := context.Background()
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "serve" {
		os.Exit(server.Main(ctx, args[1:], os.Stdout, os.Stderr, os.Getenv))
	}
	os.Exit(cli.Run(ctx, args, os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
