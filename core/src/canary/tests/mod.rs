mod cluster;
mod consistency;
mod heartbeat;
mod ledger;
mod placement;
