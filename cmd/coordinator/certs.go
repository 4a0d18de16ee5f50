package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ringtrain/ringtrain/internal/certs"
)

func newCertsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Make the certificates and tokens of a secure cluster",
		Args:  cobra.NoArgs,
	}
	var (
		workers          int
		hosts, workerDir string
		ifMissing        bool
	)
	initCmd := &cobra.Command{
		Use:   "init DIR",
		Short: "Write a CA, certificates for the coordinator, etcd, N workers and a client, and job API tokens into DIR",
		Long: "Write into DIR (made if missing; nothing in it is overwritten) a CA (ca.crt, ca.key), ECDSA P-256\n" +
			"certificates valid for a year for the coordinator, etcd, workers worker-1 ... worker-N (each worker's\n" +
			"ID is its certificate's common name) and a client, and the job API's tokens: `tokens` for the\n" +
			"coordinator's --token-file, admin.token and read.token for clients. The servers' certificates name\n" +
			"localhost, 127.0.0.1, ::1, coordinator, etcd and the --hosts. Keep ca.key offline once done.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var hl []string
			for _, h := range strings.Split(hosts, ",") {
				if h = strings.TrimSpace(h); h != "" {
					hl = append(hl, h)
				}
			}
			out := cmd.OutOrStdout()
			if _, err := os.Stat(filepath.Join(args[0], "ca.crt")); err == nil && ifMissing {
				fmt.Fprintf(out, "%s already holds a CA; nothing written\n", args[0])
			} else {
				written, err := certs.Init(args[0], certs.Options{Workers: workers, Hosts: hl})
				if err != nil {
					return err
				}
				for _, p := range written {
					fmt.Fprintln(out, p)
				}
			}
			if workerDir != "" {
				if err := certs.Share(args[0], workerDir, certs.WorkerFiles...); err != nil {
					return err
				}
				fmt.Fprintf(out, "%s: %s\n", workerDir, strings.Join(certs.WorkerFiles, ", "))
			}
			return nil
		},
	}
	initCmd.Flags().IntVar(&workers, "workers", 2, "how many worker certificates")
	initCmd.Flags().BoolVar(&ifMissing, "if-missing", false, "do nothing (but --worker-dir) when DIR already holds a CA: for a set-up step that runs at every start")
	initCmd.Flags().StringVar(&workerDir, "worker-dir", "", "also copy what workers need to join (ca.crt, join.token) into this directory, and nothing else")
	initCmd.Flags().StringVar(&hosts, "hosts", "", "more names and IP addresses the coordinator and etcd are reached at, comma-separated")
	cmd.AddCommand(initCmd)
	return cmd
}
