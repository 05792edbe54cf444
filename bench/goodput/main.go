package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses args, runs the benchmark and prints the tables to stdout,
// progress to stderr. It returns the exit code: 0 when the benchmark ran
// (whatever the targets say), 2 for bad flags, 1 when a client could not be
// built or the run was interrupted.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "goodput: %v\n", err)
		return 2
	}
	rows, err := bench(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "goodput: %v\n", err)
		return 1
	}
	report(stdout, cfg, rows)
	return 0
}
