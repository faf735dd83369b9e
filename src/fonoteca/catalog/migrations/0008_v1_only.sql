-- Fonoteca catalog, schema version 8: v1-only twins and where swarm figures come from.
--
-- Every torrent pack makes from now on has a BitTorrent v1-only twin (fonoteca.pack.hybrid.v1_only: the hybrid
-- without its v2 keys; same files, pad files and pieces, another info-hash) in releases/R/torrents-v1/, for the
-- clients that cannot read hybrids. v1_btih is its info-hash and v1_torrent_size the size of its .torrent file;
-- both NULL for torrents packed before twins existed.
-- stats_source says who counted seeders/leechers/completed: 'tracker' (a BEP 48 / BEP 15 scrape) or 'dht' (a
-- BEP 33 DHT scrape, which gives no completed count: completed stays NULL).

ALTER TABLE torrents ADD COLUMN v1_btih TEXT;
ALTER TABLE torrents ADD COLUMN v1_torrent_size INTEGER;
ALTER TABLE torrents ADD COLUMN stats_source TEXT;
CREATE UNIQUE INDEX torrents_v1_btih ON torrents (v1_btih) WHERE v1_btih IS NOT NULL;
