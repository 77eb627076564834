mod cluster;
mod heartbeat;
mod ledger;
mod placement;
