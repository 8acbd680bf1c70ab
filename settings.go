package keeper

import (
	"path/filepath"
	"time"

	"github.com/keeper-go/keeper/internal/raftlog"
	"github.com/keeper-go/keeper/storage"
)

// Settings are the parts of a member's configuration that monitoring tools
// ask a ZooKeeper server for (its conf command): Config's values, each zero
// field replaced by the default the member runs with, and where the member
// keeps its files. Node.Settings returns them.
type Settings struct {
	// Dir is Config.Dir, made absolute.
	Dir string
	// TreeDir is the directory of the member's tree database inside Dir,
	// its counterpart of ZooKeeper's dataDir (snapshots).
	TreeDir string
	// LogDir is the directory of the member's raft log inside Dir, its
	// counterpart of ZooKeeper's dataLogDir (transaction logs).
	LogDir string
	// TickInterval, ElectionTicks and HeartbeatTicks are raft's timing.
	TickInterval   time.Duration
	ElectionTicks  int
	HeartbeatTicks int
	// MinSessionTimeout and MaxSessionTimeout bound the session timeouts
	// the member grants.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
}

// Settings returns the member's settings. It never blocks and works after
// Close too.
func (n *Node) Settings() Settings {
	cfg := n.r.cfg
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		dir = cfg.Dir
	}
	return Settings{
		Dir:               dir,
		TreeDir:           storage.TreeDir(dir),
		LogDir:            raftlog.Dir(dir),
		TickInterval:      cfg.tickInterval(),
		ElectionTicks:     cfg.electionTicks(),
		HeartbeatTicks:    cfg.heartbeatTicks(),
		MinSessionTimeout: cfg.minSessionTimeout(),
		MaxSessionTimeout: cfg.maxSessionTimeout(),
	}
}
