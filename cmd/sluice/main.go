// Command sluice runs sluice from the command line.
//
//	sluice demo [flags]     run a workload against a simulated provider,
//	                        through a plain http.Client and through sluice
//	sluice check FILE       validate a configuration file
//
// Run "sluice demo -h" for the demo's flags.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/sluicehq/sluice"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage:
  sluice demo [flags]   run a workload against a simulated rate-limited provider,
                        through a plain http.Client and through sluice
  sluice check FILE     validate a sluice configuration file
`

// run is the whole command; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "demo":
		return demo(ctx, args[1:], stdout, stderr)
	case "check":
		if len(args) != 2 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		if _, err := sluice.LoadConfig(args[1]); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: ok\n", args[1])
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sluice: unknown command %q\n%s", args[0], usage)
		return 2
	}
}
