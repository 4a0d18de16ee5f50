package embedetcd_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/ringtrain/ringtrain/pkg/embedetcd"
)

func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "embedetcd-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := embedetcd.Start(ctx, embedetcd.Config{
		Dir:       dir,
		ClientURL: "http://127.0.0.1:0", // any free port: see Endpoints
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	cli, err := s.NewClient()
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, "hello", "world"); err != nil {
		log.Fatal(err)
	}
	resp, err := cli.Get(ctx, "hello")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", resp.Kvs[0].Value)
	// Output: world
}
