package main

import (
	"fmt"
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
		workers int
		hosts   string
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
			written, err := certs.Init(args[0], certs.Options{Workers: workers, Hosts: hl})
			if err != nil {
				return err
			}
			for _, p := range written {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return nil
		},
	}
	initCmd.Flags().IntVar(&workers, "workers", 2, "how many worker certificates")
	initCmd.Flags().StringVar(&hosts, "hosts", "", "more names and IP addresses the coordinator and etcd are reached at, comma-separated")
	cmd.AddCommand(initCmd)
	return cmd
}
