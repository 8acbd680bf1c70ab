package s3target_test

import (
	"context"
	"log"
	"os"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/s3target"
)

// A Target for a prefix of a bucket on Amazon S3, checked at start.
func ExampleNew() {
	ctx := context.Background()
	tg, err := s3target.New(ctx, s3target.Options{
		Endpoint:    "s3.eu-west-1.amazonaws.com",
		Region:      "eu-west-1",
		Bucket:      "backups",
		Prefix:      "keeper/prod",
		AccessKey:   os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretKey:   os.Getenv("AWS_SECRET_ACCESS_KEY"),
		Secure:      true,
		CheckBucket: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer tg.Close()
	var _ keeper.Target = tg // hand it to the archive
}
