package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ringtrain/ringtrain/pkg/train"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

func newHistoryCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "history JOB",
		Short: "Print a job's learning curve: one row per completed epoch, as CSV or JSON",
		Long: "Print a job's history: per epoch, the elapsed time, the training loss, the validation and test\n" +
			"scores (loss and accuracy, or loss, RMSE, MAE and R² for regression), samples/s, learning rate,\n" +
			"workers and attempts. The same is kept as history.csv and history.json in every run's output\n" +
			"directory; `coordinator plot` draws it.",
		Args: cobra.ExactArgs(1),
	}
	f := addClusterFlags(cmd, true, false)
	cmd.Flags().StringVarP(&output, "output", "o", "csv", "csv or json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if output != "csv" && output != "json" {
			return fmt.Errorf("--output: %q is not csv or json", output)
		}
		c, conn, err := f.connect()
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := f.unary(cmd.Context())
		defer cancel()
		h, err := fetchHistory(ctx, c, args[0])
		if err != nil {
			return err
		}
		if output == "json" {
			return h.WriteJSON(cmd.OutOrStdout())
		}
		return h.WriteCSV(cmd.OutOrStdout())
	}
	return cmd
}

// fetchHistory returns job id's history from the coordinator.
func fetchHistory(ctx context.Context, c ringtrainv1.JobServiceClient, id string) (*train.History, error) {
	resp, err := c.GetJobHistory(ctx, &ringtrainv1.GetJobHistoryRequest{JobId: id})
	if err != nil {
		return nil, describe(err, "get history of job "+id, id)
	}
	var h train.History
	if err := json.Unmarshal(resp.GetJson(), &h); err != nil {
		return nil, fmt.Errorf("history of job %s: %w", id, err)
	}
	return &h, nil
}
