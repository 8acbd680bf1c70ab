package stream_test

import (
	"bytes"
	"fmt"
	"io"
	"log"

	"github.com/keeper-go/keeper/internal/stream"
)

func Example() {
	var buf bytes.Buffer
	w, err := stream.NewWriter(&buf, stream.Header{ClusterID: 1, Member: 1, Zxid: 42, Kind: stream.KindBackup}, stream.WriterOptions{})
	if err != nil {
		log.Fatal(err)
	}
	w.WriteRecord(1, []byte("/app"))
	w.WriteRecord(1, []byte("/app/config"))
	w.WriteRecord(2, []byte("session 7"))
	if err := w.Close(stream.Footer{Digest: 0xfeed}); err != nil {
		log.Fatal(err)
	}

	r, err := stream.NewReader(&buf, stream.ReaderOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	fmt.Println("zxid", r.Header().Zxid)
	for {
		kind, payload, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err) // errors.Is(err, stream.ErrCorrupt) for any damage
		}
		fmt.Println(kind, string(payload))
	}
	f := r.Footer()
	fmt.Printf("%d records, %d of kind 1, digest %#x\n", f.Records, f.Count(1), f.Digest)
	// Output:
	// zxid 42
	// 1 /app
	// 1 /app/config
	// 2 session 7
	// 3 records, 2 of kind 1, digest 0xfeed
}
