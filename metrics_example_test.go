package keeper_test

import (
	"context"
	"fmt"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/prometheus/client_golang/prometheus"
)

// A host registers each member's collector on a registry of its own, and
// serves that registry (promhttp.HandlerFor) or pushes it; keeper itself
// registers nothing. Every metric carries the member's id as a label.
func ExampleNode_Collector() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes, stop, err := exampleCluster(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	reg := prometheus.NewRegistry()
	for _, n := range nodes {
		reg.MustRegister(n.Collector())
	}
	for _, p := range []string{"/a", "/b", "/c", "/a"} {
		nodes[0].Create(ctx, p, nil, keeper.Persistent) // the second /a fails: NodeExists
	}

	families, err := reg.Gather()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range families {
		if f.GetName() != "keeper_proposals_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if v := m.GetCounter().GetValue(); v > 0 {
				fmt.Print(f.GetName())
				for _, l := range m.GetLabel() {
					fmt.Printf(" %s=%s", l.GetName(), l.GetValue())
				}
				fmt.Println(":", v)
			}
		}
	}
	// Output:
	// keeper_proposals_total member=1 outcome=applied: 3
	// keeper_proposals_total member=1 outcome=rejected: 1
}
