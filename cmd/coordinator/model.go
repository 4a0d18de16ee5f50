package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/ringtrain/ringtrain/internal/progress"
	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	ringtrainv1 "github.com/ringtrain/ringtrain/proto/ringtrain/v1"
)

func newModelCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "model JOB -o FILE",
		Short: "Download a job's model",
		Long: "Download the model a finished job saved (safetensors, what eval and predict read) to FILE.\n" +
			"The model is checked to decode before FILE is written, and FILE is replaced atomically:\n" +
			"it holds the whole model or what it held before.",
		Args: cobra.ExactArgs(1),
	}
	f := addClusterFlags(cmd, false, false)
	cmd.Flags().StringVarP(&path, "output", "o", "", "file to write the model to")
	cmd.MarkFlagRequired("output")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id := args[0]
		c, conn, err := f.connect()
		if err != nil {
			return err
		}
		defer conn.Close()
		b, err := downloadModel(cmd.Context(), c, id)
		if err != nil {
			return err
		}
		m, err := checkpoint.DecodeModel[float32](b)
		if err != nil {
			return fmt.Errorf("job %s: downloaded model does not decode: %w", id, err)
		}
		if err := checkpoint.WriteFile(path, b); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s: %s bytes, network %s\n", path, progress.Count(float64(len(b))), layerSizes(m.Arch))
		return nil
	}
	return cmd
}

// downloadModel returns the bytes of job id's saved model.
func downloadModel(ctx context.Context, c ringtrainv1.JobServiceClient, id string) ([]byte, error) {
	what := "download model of job " + id
	stream, err := c.GetModel(ctx, &ringtrainv1.GetModelRequest{JobId: id})
	if err != nil {
		return nil, describe(err, what, id)
	}
	var buf bytes.Buffer
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return buf.Bytes(), nil
		}
		if err != nil {
			return nil, describe(err, what, id)
		}
		buf.Write(chunk.GetData())
	}
}
