"""Names shared by the assets, jobs, sensors and `dagster.yaml`.

Asset keys, group names and run tags are part of the contract with `dagster.yaml` (the tag
concurrency limits) and with the alert sensors (which read the tags back from failed runs), so
they live in one place instead of being spelled out in every module.
"""

from __future__ import annotations

from dagster import AssetKey, StaticPartitionsDefinition

from pipelines.config import ConfigError, Settings, load_settings
from pipelines.config_accounts import DEFAULT_ACCOUNT
from pipelines.marketplaces import NAMES as MARKETPLACES, MARKETPLACES as REGISTRY

# dlt datasets per marketplace. Asset keys use the base names even when INVSYNC_DATASET_PREFIX
# is set, so the asset graph (and its history) does not change with the installation.
RAW_DATASET = {m.name: m.raw_dataset for m in REGISTRY}
DATASET_MARKETPLACE = {v: k for k, v in RAW_DATASET.items()}

# Groups in the asset graph, in pipeline order.
GROUP_LANDING = "landing"
GROUP_STAGING = "staging"
GROUP_AUDIT = "audit"
GROUP_PUBLISH = "publish"

AUDIT_KEY = AssetKey("inventory_audit")
INVENTORY_KEY = AssetKey("inventory_data")
SNAPSHOT_KEY = AssetKey("int_inventory__snapshot")
SYNC_LOGS_KEY = AssetKey(["ops", "sync_logs"])

# Op names = step keys; alerts name the failing step with them.
LANDING_OP = {name: f"land_{name}" for name in MARKETPLACES}
STAGE_OP = "stage_snapshot"
PUBLISH_OP = "publish_inventory"

# Run tags. `invsync/<marketplace>` is the concurrency lock of one marketplace (a full resync
# carries both), `invsync/warehouse` serialises runs on one warehouse (see dagster.yaml).
TAG_MARKETPLACE = "invsync/marketplace"  # ozon | wb | all: what the run syncs, for people and alerts
TAG_ACCOUNT = "invsync/account"  # "ozon/acme": the run's seller account; one run per account at a time
TAG_FULL = "invsync/full"  # "true": landing re-reads complete snapshots (weekly resync, recovery)
TAG_FORCE_PUBLISH = "invsync/force-publish"  # "who: why": publish despite critical checks
TAG_WAREHOUSE = "invsync/warehouse"  # duckdb | mysql


def load_time_settings() -> Settings:
    """The settings when the code location loads, for what the definitions are built from (the
    account partitions, the freshness limits in descriptions). An invalid configuration reads
    as the defaults here: every step reads the settings again and fails with the message that
    says what to fix."""
    try:
        return load_settings()
    except ConfigError:
        return Settings()


def account_partitions(settings: Settings) -> dict[str, StaticPartitionsDefinition]:
    """Each marketplace's seller accounts as the partitions of its landing assets: `default`
    (the single-account variables) and those of INVSYNC_ACCOUNTS_FILE. A run lands one account
    (its partition key); the accounts file changes the partitions when the code location reloads."""
    return {m.name: StaticPartitionsDefinition(
        list(dict.fromkeys([DEFAULT_ACCOUNT] + [a.id for a in settings.accounts_of(m.name)]))) for m in REGISTRY}


ACCOUNT_PARTITIONS = account_partitions(load_time_settings())


def account_tag(marketplace: str, account: str) -> dict[str, str]:
    """The tag whose concurrency limit (1 per value, dagster.yaml) keeps two runs of one account apart."""
    return {TAG_ACCOUNT: f"{marketplace}/{account}"}


def lock_tag(marketplace: str) -> str:
    """The tag key whose concurrency limit (1) keeps two syncs of a marketplace apart."""
    return f"invsync/{marketplace}"


def raw_key(marketplace: str, table: str) -> AssetKey:
    return AssetKey([RAW_DATASET[marketplace], table])
