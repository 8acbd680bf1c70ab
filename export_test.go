package keeper

// CatchUpFactor is catchUpFactor for the external tests: how many
// KeepEntries of log the leader may keep for a catching-up follower.
const CatchUpFactor = catchUpFactor
