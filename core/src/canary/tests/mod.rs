mod cluster;
mod consistency;
mod follow;
mod heartbeat;
mod ledger;
mod placement;
