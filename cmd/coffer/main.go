// Command coffer is Coffer's single binary: `coffer serve` runs the server;
// every other verb is a client of it (see `coffer help`).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/coffer-vault/coffer/internal/cli"
	"github.com/coffer-vault/coffer/internal/server"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "serve" {
		// The server installs its own signal handling for graceful shutdown.
		os.Exit(server.Main(context.Background(), args[1:], os.Stdout, os.Stderr, os.Getenv))
	}
	// Ctrl-C cancels a client command cleanly, so an interrupted put or get
	// can be resumed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, args, os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
