// Command sluice runs sluice from the command line.
//
//	sluice demo [flags]     run a workload against a simulated provider,
//	                        through a plain http.Client and through sluice
//	sluice check FILE       validate a configuration file
//	sluice proxy -config F  run the egress gateway (see docs/proxy.md)
//
// Run "sluice demo -h" for the demo's flags.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/proxy"
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
  sluice proxy -config FILE
                        run the egress gateway (base URL, HTTP_PROXY, CONNECT)
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
	case "proxy":
		return proxyCmd(ctx, args[1:], stdout, stderr)
	case "check":
		if len(args) != 2 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		if _, err := checkConfig(args[1]); err != nil {
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

// checkConfig validates a configuration file: a plain sluice configuration,
// or one with a proxy: section.
func checkConfig(path string) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if hasProxySection(data) {
		return proxy.LoadFile(path)
	}
	return sluice.LoadConfig(path)
}

// hasProxySection reports whether a YAML document has a top-level proxy key.
func hasProxySection(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "proxy:") {
			return true
		}
	}
	return false
}
