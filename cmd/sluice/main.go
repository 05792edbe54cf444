// Command sluice runs sluice from the command line.
//
//	sluice demo [flags]     run a workload against a simulated provider,
//	                        through a plain http.Client and through sluice
//	sluice demo -proxy      the same from several OS processes, through one
//	                        sluice proxy (-hold keeps its status page up)
//	sluice check FILE|-     validate a configuration file (- reads stdin)
//	sluice proxy -config F  run the egress gateway (see docs/proxy.md)
//	sluice version          print the version of sluice and Go
//
// Run "sluice demo -h" for the demo's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
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
  sluice demo [flags]    run a workload against a simulated rate-limited provider,
                         through a plain http.Client and through sluice
  sluice demo -proxy     the same from several worker processes through one sluice
                         proxy (-workers N, -hold keeps its status page up)
  sluice check FILE|-    validate a sluice configuration file (- reads stdin)
  sluice proxy -config FILE
                         run the egress gateway (base URL, HTTP_PROXY, CONNECT)
  sluice version         print the version of sluice and of Go
`

// run is the whole command; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runIn(ctx, args, os.Stdin, stdout, stderr)
}

// runIn is run reading stdin from stdin.
func runIn(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "demo":
		return demo(ctx, args[1:], stdout, stderr)
	case "proxy":
		return proxyCmd(ctx, args[1:], stdout, stderr)
	case "demo-worker": // hidden: one worker process of `sluice demo -proxy`
		return demoWorker(ctx, args[1:], stdin, stdout, stderr)
	case "check":
		return check(args[1:], stdin, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, version())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sluice: unknown command %q\n%s", args[0], usage)
		return 2
	}
}

// hasProxySection reports whether a YAML document has a top-level proxy key;
// such a file is checked with the proxy section (proxy.Parse).
func hasProxySection(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "proxy:") {
			return true
		}
	}
	return false
}

const checkUsage = `usage: sluice check FILE|-

Validates a sluice YAML configuration the way sluice.LoadConfig and
NewTransport read it: unknown fields, values of the wrong type and settings
out of range are reported all at once, each with its YAML path and line.
"-" reads the configuration from stdin. Exit status: 0 valid, 1 invalid,
2 usage error.
`

// check validates a configuration file, or stdin for "-".
func check(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, checkUsage)
			return 0
		}
		fmt.Fprintf(stderr, "sluice check: %v\n%s", err, checkUsage)
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, checkUsage)
		return 2
	}
	name := fs.Arg(0)
	var err error
	if name == "-" {
		var data []byte
		if data, err = io.ReadAll(io.LimitReader(stdin, 16<<20)); err == nil {
			if hasProxySection(data) {
				_, err = proxy.Parse(data)
			} else {
				_, err = sluice.ParseConfig(data)
			}
		}
		if err != nil {
			err = fmt.Errorf("sluice: stdin: %w", err)
		}
		name = "stdin"
	} else if data, rerr := os.ReadFile(name); rerr == nil && hasProxySection(data) {
		_, err = proxy.LoadFile(name)
	} else {
		_, err = sluice.LoadConfig(name)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", name)
	return 0
}

// version is the module version the binary was built from ("(devel)" for a
// build in the repository, with its VCS revision when known) and Go's.
func version() string {
	v, rev := "(unknown)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		v = bi.Main.Version
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" && rev != "" {
					rev += "-dirty"
				}
			}
		}
	}
	out := "sluice " + v
	if rev != "" {
		out += " " + rev
	}
	return out + " " + runtime.Version()
}
