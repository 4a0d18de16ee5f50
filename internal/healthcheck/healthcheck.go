package healthcheck

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ringtrain/ringtrain/internal/secure"
)

// Command returns the subcommand for a server of the given kind
// ("coordinator", "worker") whose gRPC address is addr by default.
func Command(kind, addr string) *cobra.Command {
	var (
		timeout  time.Duration
		tlsFlags secure.Flags
	)
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the " + kind + " at --addr reports SERVING on the gRPC health service",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Quiet: a health check runs every second; --insecure's warning
			// belongs to the server's log.
			tlsCfg, err := tlsFlags.LoadClient(slog.New(slog.DiscardHandler))
			if err != nil {
				return err
			}
			creds := tlsCfg.DialOption()
			if kind == "worker" {
				creds = tlsCfg.PeerDialOption()
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return Check(ctx, addr, creds)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", addr, kind+" gRPC address to check")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for the answer")
	tlsFlags.Register(cmd.Flags()) // --tls-ca alone will do: health checks need no certificate
	return cmd
}

// Check returns nil when the gRPC server at addr, dialled with creds,
// reports SERVING for the server as a whole.
func Check(ctx context.Context, addr string, creds grpc.DialOption) error {
	conn, err := grpc.NewClient(addr, creds)
	if err != nil {
		return fmt.Errorf("health check of %s: %w", addr, err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("health check of %s: %w", addr, err)
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("health check of %s: %s", addr, s)
	}
	return nil
}
