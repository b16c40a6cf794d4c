"""What is normal on this site, learned from the first `learning_period_s` of packet time.

During learning the baseline records the devices seen (MACs and internal IPs), which hosts originate remote
administration (RDP/SSH/SMB/WinRM/RPC) and to which peers, the protocol and server ports each host calls out
to, how many internal hosts call each external address (its prevalence on the site: what many hosts call is
software or a service, not one host's implant), the DHCP servers that answer, the site's routines (its
scanners, sweepers, automation and known rhythms: rules/routines.py), a per-host profile of flow features, and
a reservoir sample of flow feature vectors. When packet time passes the end of learning it
fits an IsolationForest (scikit-learn, fixed random_state) on the sample.

Persistence: `to_bytes()` is msgpack of a msgspec Struct holding plain lists and the forest's node arrays
(children, split feature, split threshold, leaf path length) as little-endian numpy buffers. There is no
pickle, so restoring from the store cannot execute code; `from_bytes()` validates types, shapes and node
indices and raises ValueError on anything malformed. Scoring walks those arrays with numpy, vectorised over
trees, and matches `IsolationForest.score_samples` (tested), at a fraction of sklearn's per-call overhead.
"""

from __future__ import annotations

import math
import random
import sys
from collections import OrderedDict

import msgspec
import numpy as np

from appliance.engine.flow_traits import admin_service, duration
from appliance.engine.network import SiteConfig
from sensor.records import ArpEvent, DhcpEvent, DnsEvent, Event, Flow

STATE_VERSION = 1
FLOW_FEATURES = (
    "log_duration_s",
    "log_bytes_orig",
    "log_bytes_resp",
    "log_pkts_orig",
    "log_pkts_resp",
    "upload_fraction",
    "log_size_mean",
    "log_iat_mean_ms",
    "proto_code",  # 0 TCP, 1 UDP, 2 ICMP/ICMPv6, 3 other
    "port_class",  # 0 well-known (<1024), 1 registered (<49152), 2 dynamic
)
SAMPLE_SIZE = 20_000  # reservoir of training vectors: enough for 100 trees of 256 samples
MAX_PEERS_PER_SERVICE = 256
MAX_PORTS_PER_HOST = 128  # past this a host calls out everywhere (a proxy, a scanner): no port is new for it
MAX_RESOLVERS = 256
MAX_ROUTINES = 4096  # routine keys (rules/routines.py): a host per rule, a service or a destination each
MAX_CLIENTS_PER_DESTINATION = 16  # prevalence is counted up to here: past it an address is site-wide
N_TREES = 100
TREE_SAMPLES = 256  # IsolationForest max_samples (the paper's default)
QUANTILES = 1001  # training-score quantiles kept, so a contamination override needs no refit
_PROTO_CODES = {"TCP": 0, "UDP": 1, "ICMP": 2, "ICMPv6": 2}


def _log1p(value: float) -> float:
    """log(1 + value) of a duration, count or size, finite for any input: 0 for what should never be negative
    but is (inter-arrival times of a capture whose clock stepped back) or is not a number, and the log of the
    largest float for an overflowing one."""
    return math.log1p(min(value, sys.float_info.max)) if value > 0 else 0.0


def flow_features(flow: Flow) -> list[float]:
    total = flow.bytes_orig + flow.bytes_resp
    port = flow.dst_port if flow.proto in ("TCP", "UDP") else 0
    return [
        _log1p(duration(flow)),
        _log1p(flow.bytes_orig),
        _log1p(flow.bytes_resp),
        _log1p(flow.pkts_orig),
        _log1p(flow.pkts_resp),
        flow.bytes_orig / total if total > 0 else 0.0,
        _log1p(flow.size_mean),
        _log1p(flow.iat_mean * 1000.0),
        float(_PROTO_CODES.get(flow.proto, 3)),
        0.0 if port < 1024 else 1.0 if port < 49152 else 2.0,
    ]


def _port_key(flow: Flow) -> str:
    return f"{flow.proto}/{flow.dst_port if flow.proto in ('TCP', 'UDP') else 0}"


def _average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n) of Liu et al.: the mean depth of an unsuccessful BST search among n points (as sklearn)."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


class ForestArrays(msgspec.Struct, kw_only=True):
    """An isolation forest as flat arrays: node i of every tree lives at a global index; leaves point to
    themselves, so walking `max_depth` steps from the roots always ends on a leaf."""

    n_features: int
    max_depth: int
    normaliser: float  # n_trees * c(max_samples)
    roots: bytes  # int64
    left: bytes  # int64
    right: bytes  # int64
    feature: bytes  # int64, index into FLOW_FEATURES
    threshold: bytes  # float64, go left when x <= threshold
    leaf_depth: bytes  # float64, depth + c(samples in leaf) at leaves

    @classmethod
    def from_sklearn(cls, forest) -> ForestArrays:
        roots, left, right, feature, threshold, leaf_depth = [], [], [], [], [], []
        max_depth, offset = 0, 0
        for tree, features in zip(forest.estimators_, forest.estimators_features_, strict=True):
            t = tree.tree_
            n = t.node_count
            is_leaf = t.children_left == -1
            depth = np.zeros(n, dtype=np.int64)
            for node in range(n):  # children always come after their parent in sklearn's node order
                if not is_leaf[node]:
                    depth[t.children_left[node]] = depth[t.children_right[node]] = depth[node] + 1
            own = np.arange(n, dtype=np.int64) + offset
            roots.append(offset)
            left.append(np.where(is_leaf, own, t.children_left + offset))
            right.append(np.where(is_leaf, own, t.children_right + offset))
            feature.append(np.where(is_leaf, 0, np.asarray(features)[np.maximum(t.feature, 0)]))
            threshold.append(np.where(is_leaf, 0.0, t.threshold))
            leaf_depth.append(np.where(is_leaf, depth + _average_path_length(t.n_node_samples), 0.0))
            max_depth = max(max_depth, int(depth.max()))
            offset += n
        as_bytes = lambda parts, dtype: np.concatenate(parts).astype(dtype).tobytes()  # noqa: E731
        return cls(
            n_features=forest.n_features_in_,
            max_depth=max_depth,
            normaliser=len(forest.estimators_)
            * float(_average_path_length(np.array([forest.max_samples_]))[0]),
            roots=np.array(roots, dtype="<i8").tobytes(),
            left=as_bytes(left, "<i8"),
            right=as_bytes(right, "<i8"),
            feature=as_bytes(feature, "<i8"),
            threshold=as_bytes(threshold, "<f8"),
            leaf_depth=as_bytes(leaf_depth, "<f8"),
        )


class IsolationScorer:
    """Scores rows with a ForestArrays: 2 ** (-mean path length / c(n)), in (0, 1), higher = more isolated
    (the negation of sklearn's score_samples)."""

    def __init__(self, arrays: ForestArrays):
        def load(data: bytes, dtype: str) -> np.ndarray:
            if len(data) % 8:
                raise ValueError("baseline model: array buffer is not a whole number of 8-byte items")
            return np.frombuffer(data, dtype=dtype)

        self.roots = load(arrays.roots, "<i8")
        self.left, self.right = load(arrays.left, "<i8"), load(arrays.right, "<i8")
        self.feature, self.threshold = load(arrays.feature, "<i8"), load(arrays.threshold, "<f8")
        self.leaf_depth = load(arrays.leaf_depth, "<f8")
        nodes = len(self.left)
        if {len(self.right), len(self.feature), len(self.threshold), len(self.leaf_depth)} != {nodes}:
            raise ValueError("baseline model: node arrays differ in length")
        for name, idx in (("roots", self.roots), ("left", self.left), ("right", self.right)):
            if len(idx) and (idx.min() < 0 or idx.max() >= nodes):
                raise ValueError(f"baseline model: {name} points outside the node array")
        if arrays.n_features != len(FLOW_FEATURES) or (
            len(self.feature) and (self.feature.min() < 0 or self.feature.max() >= arrays.n_features)
        ):
            raise ValueError("baseline model: split features do not match the flow features")
        if not (0 <= arrays.max_depth <= 64) or not arrays.normaliser > 0 or not len(self.roots):
            raise ValueError("baseline model: bad depth, normaliser or no trees")
        if not (np.isfinite(self.threshold).all() and np.isfinite(self.leaf_depth).all()):
            raise ValueError("baseline model: split thresholds or leaf depths are not finite numbers")
        self.max_depth = arrays.max_depth
        self.normaliser = arrays.normaliser

    def score(self, rows: np.ndarray) -> np.ndarray:
        # sklearn's trees compare float32 inputs; round the same way so splits fall identically
        rows = np.asarray(rows, dtype=np.float32).astype(np.float64)
        node = np.broadcast_to(self.roots, (len(rows), len(self.roots))).copy()
        row_index = np.arange(len(rows))[:, None]
        for _ in range(self.max_depth):
            go_left = rows[row_index, self.feature[node]] <= self.threshold[node]
            node = np.where(go_left, self.left[node], self.right[node])
        return 2.0 ** (-self.leaf_depth[node].sum(axis=1) / self.normaliser)


class HostProfile(msgspec.Struct, array_like=True):
    """Running mean and variance (Welford) of each flow feature for one host's originated flows."""

    count: int
    mean: list[float]
    m2: list[float]

    def add(self, values: list[float]) -> None:
        self.count += 1
        for i, value in enumerate(values):
            delta = value - self.mean[i]
            self.mean[i] += delta / self.count
            self.m2[i] += delta * (value - self.mean[i])

    def z_scores(self, values: list[float]) -> dict[str, float]:
        out = {}
        for i, value in enumerate(values):
            std = math.sqrt(max(self.m2[i], 0.0) / self.count) if self.count > 1 else 0.0
            out[FLOW_FEATURES[i]] = round((value - self.mean[i]) / std, 2) if std > 1e-9 else 0.0
        return out


class BaselineState(msgspec.Struct, kw_only=True):
    version: int = STATE_VERSION
    started_at: float | None = None
    learning_until: float | None = None
    finished: bool = False
    macs: list[str] = []
    ips: list[str] = []
    services: dict[str, list[str]] = {}  # src ip -> admin services it originated
    ports: dict[str, list[str]] = {}  # src ip -> "PROTO/port" it called out to
    peers: dict[str, list[str]] = {}  # "src|service" -> peers it reached
    server_clients: dict[str, int] = {}  # "service|server" -> distinct clients
    destinations: dict[str, list[str]] = {}  # external address -> internal hosts that called it (capped)
    dhcp_servers: list[str] = []
    resolvers: list[str] = []
    routines: list[str] = []  # see rules/routines.py
    profiles: dict[str, HostProfile] = {}
    sample: list[list[float]] = []  # only while learning
    sample_seen: int = 0
    rng_state: list[int] = []
    forest: ForestArrays | None = None
    score_quantiles: list[float] = []  # QUANTILES quantiles of the training scores


class BaselineSummary(msgspec.Struct, kw_only=True):
    """What an admin reads about the baseline: whether it still learns, and the routines it learned."""

    learning_started_at: float | None  # packet time of the first record
    learning_until: float | None
    finished: bool
    devices: int
    routines: list[str]  # "RULE|host[|service or destination]" (rules/routines.py)


def decode_state(data: bytes) -> BaselineState:
    """A stored baseline's state, its shape checked (Baseline.from_bytes checks its values)."""
    try:
        return msgspec.msgpack.decode(data, type=BaselineState)
    except msgspec.DecodeError as exc:
        raise ValueError(f"baseline state is malformed: {exc}") from None


def summary(data: bytes | None) -> BaselineSummary:
    """The summary of a stored baseline (None: the engine has not seen a record yet)."""
    if data is None:
        return BaselineSummary(learning_started_at=None, learning_until=None, finished=False, devices=0, routines=[])
    state = decode_state(data)
    return BaselineSummary(learning_started_at=state.started_at, learning_until=state.learning_until,
                           finished=state.finished, devices=len(state.macs), routines=state.routines)


class Baseline:
    def __init__(self, site: SiteConfig, random_state: int = 0):
        self.site = site
        self.random_state = random_state
        self.started_at: float | None = None
        self.learning_until: float | None = None
        self.finished = False
        self._macs: set[str] = set()
        self._ips: set[str] = set()
        self._services: dict[str, set[str]] = {}
        self._ports: dict[str, set[str]] = {}
        self._peers: dict[str, set[str]] = {}
        self._server_clients: dict[str, int] = {}  # "service|server" -> distinct clients seen using it
        self._destinations: dict[str, set[str]] = {}  # external address -> internal callers (capped)
        self._resolvers: set[str] = set()
        self._dhcp_servers: set[str] = set()
        self._routines: set[str] = set()
        self._profiles: OrderedDict[str, HostProfile] = OrderedDict()
        self._sample: list[list[float]] = []
        self._sample_seen = 0
        self._rng = random.Random(random_state)
        self._scorer: IsolationScorer | None = None
        self._forest: ForestArrays | None = None
        self._quantiles = np.zeros(0)

    # --- questions the rules ask -------------------------------------------------------------------------
    def learning(self, ts: float) -> bool:
        """Whether `ts` falls in the learning period. A flow that started in it but ends (and so arrives) after it
        is still learned, and judged by nobody: the file-share session open across the boundary is routine."""
        return self.learning_until is None or ts < self.learning_until

    def knows_mac(self, mac: str) -> bool:
        return mac in self._macs

    def knows_ip(self, ip: str) -> bool:
        return ip in self._ips

    def originated_service(self, src: str, service: str) -> bool:
        return service in self._services.get(src, ())

    def called_port(self, flow: Flow) -> bool:
        """Whether the flow's source called out on this protocol and server port while learning (or on so many
        that none is unusual for it)."""
        ports = self._ports.get(flow.src_ip, ())
        return len(ports) >= MAX_PORTS_PER_HOST or _port_key(flow) in ports

    def reached_peer(self, src: str, service: str, dst: str) -> bool:
        return dst in self._peers.get(f"{src}|{service}", ())

    def server_clients(self, service: str, dst: str) -> int:
        """How many hosts used `dst` for `service` while learning: the file server and the DC have many."""
        return self._server_clients.get(f"{service}|{dst}", 0)

    def destination_clients(self, dst: str) -> int:
        """How many internal hosts called the external address `dst` while learning (counted up to 16)."""
        return len(self._destinations.get(dst, ()))

    def is_resolver(self, ip: str) -> bool:
        """A configured resolver, or an internal host other internal hosts send DNS queries to: its own queries
        are forwarded ones."""
        return ip in self._resolvers or ip in self.site.resolvers

    def knows_dhcp_server(self, ip: str) -> bool:
        return ip in self._dhcp_servers

    def knows_routines(self, keys: list[str]) -> bool:
        """Whether every one of these routine keys (rules/routines.py) was learned."""
        return all(key in self._routines for key in keys)

    @property
    def routines(self) -> list[str]:
        """What the site's hosts routinely did while learning that a recon or rhythm rule fires on."""
        return sorted(self._routines)

    def host_flow_count(self, ip: str) -> int:
        profile = self._profiles.get(ip)
        return profile.count if profile else 0

    def host_z_scores(self, ip: str, values: list[float]) -> dict[str, float]:
        profile = self._profiles.get(ip)
        return profile.z_scores(values) if profile else {}

    def anomaly_score(self, values: list[float]) -> float | None:
        """In (0, 1), higher = further from the learned flows; None before a model exists."""
        if self._scorer is None:
            return None
        return float(self._scorer.score(np.array([values]))[0])

    def score_at_contamination(self, contamination: float) -> float:
        """The training score that `contamination` of baseline flows exceed."""
        if not len(self._quantiles):
            return math.inf
        position = (1.0 - contamination) * (len(self._quantiles) - 1)
        return float(np.interp(position, np.arange(len(self._quantiles)), self._quantiles))

    # --- learning ------------------------------------------------------------------------------------------
    def observe_flow(self, flow: Flow) -> None:
        self._clock(flow.ts_start)
        if self.site.is_internal(flow.src_ip):
            self._add_device(flow.src_mac, flow.src_ip)
        if flow.pkts_resp and self.site.is_internal(flow.dst_ip):  # it answered: a device, even if it never calls
            self._add_device("", flow.dst_ip)
        if not self.learning(flow.ts_start):
            return
        service = admin_service(flow)
        if service and self.site.is_internal(flow.src_ip) and self.site.is_internal(flow.dst_ip):
            self._learn_admin(flow.src_ip, service, flow.dst_ip)
        self._learn_port(flow)
        self._learn_destination(flow)
        values = flow_features(flow)  # finite whatever the flow says: the stored baseline never holds a non-number
        self._profile(flow.src_ip, values)
        if not self.finished:  # the forest is fitted once, when the period ends; later arrivals miss the sample
            self._sample_vector(values)

    def observe_event(self, event: Event) -> None:
        self._clock(event.ts)
        if isinstance(event, ArpEvent) and event.sender_ip not in ("", "0.0.0.0"):
            self._add_device(event.sender_mac, event.sender_ip)
        elif isinstance(event, DnsEvent) and not event.is_response:
            self._learn_resolver(event.src_ip, event.dst_ip)
        elif isinstance(event, DhcpEvent):
            self._add_device(event.client_mac, "")
            if event.msg_type in (2, 5) and self.learning(event.ts):  # OFFER, ACK
                self._dhcp_servers.add(event.server_id or event.src_ip)

    def advance(self, now: float) -> None:
        self._clock(now)

    def _clock(self, ts: float) -> None:
        if not math.isfinite(ts):  # never stored: a baseline that holds one cannot be read back
            return
        if self.started_at is None:
            self.started_at = ts
            self.learning_until = ts + self.site.learning_period_s
        if not self.finished and ts >= self.learning_until:
            self._finish_learning()

    def learn_routines(self, keys: list[str]) -> None:
        if len(self._routines) < MAX_ROUTINES:
            self._routines.update(keys)

    def _add_device(self, mac: str, ip: str) -> None:
        if mac and len(self._macs) < self.site.max_tracked_keys:
            self._macs.add(mac.lower())
        if ip and len(self._ips) < self.site.max_tracked_keys:
            self._ips.add(ip)

    def _learn_resolver(self, client: str, server: str) -> None:
        if server in self._resolvers or len(self._resolvers) >= MAX_RESOLVERS or client == server:
            return
        if self.site.is_internal(client) and self.site.is_internal(server):
            self._resolvers.add(server)

    def _learn_admin(self, src: str, service: str, dst: str) -> None:
        if src in self._services or len(self._services) < self.site.max_tracked_keys:
            self._services.setdefault(src, set()).add(service)
            peers = self._peers.setdefault(f"{src}|{service}", set())
            if dst not in peers and len(peers) < MAX_PEERS_PER_SERVICE:
                peers.add(dst)
                server = f"{service}|{dst}"
                if server in self._server_clients or len(self._server_clients) < self.site.max_tracked_keys:
                    self._server_clients[server] = self._server_clients.get(server, 0) + 1

    def _learn_port(self, flow: Flow) -> None:
        ports = self._ports.get(flow.src_ip)
        if ports is None:
            if len(self._ports) >= self.site.max_tracked_keys:
                return
            ports = self._ports[flow.src_ip] = set()
        if len(ports) < MAX_PORTS_PER_HOST:
            ports.add(_port_key(flow))

    def _learn_destination(self, flow: Flow) -> None:
        if not self.site.is_internal(flow.src_ip) or self.site.is_internal(flow.dst_ip):
            return
        clients = self._destinations.get(flow.dst_ip)
        if clients is None:
            if len(self._destinations) >= self.site.max_tracked_keys:
                return
            clients = self._destinations[flow.dst_ip] = set()
        if len(clients) < MAX_CLIENTS_PER_DESTINATION:
            clients.add(flow.src_ip)

    def _profile(self, src: str, values: list[float]) -> None:
        profile = self._profiles.get(src)
        if profile is None:
            if len(self._profiles) >= self.site.max_tracked_keys:
                return
            profile = self._profiles[src] = HostProfile(0, [0.0] * len(values), [0.0] * len(values))
        profile.add(values)

    def _sample_vector(self, values: list[float]) -> None:
        """Reservoir sampling (Vitter's algorithm R): a uniform sample of the whole learning period."""
        self._sample_seen += 1
        if len(self._sample) < SAMPLE_SIZE:
            self._sample.append(values)
        else:
            slot = self._rng.randrange(self._sample_seen)
            if slot < SAMPLE_SIZE:
                self._sample[slot] = values

    def _finish_learning(self) -> None:
        self.finished = True
        if len(self._sample) >= 2:
            from sklearn.ensemble import IsolationForest  # the import costs ~1 s; only paid once per site

            rows = np.array(self._sample)
            forest = IsolationForest(
                n_estimators=N_TREES, max_samples=min(TREE_SAMPLES, len(rows)), random_state=self.random_state
            ).fit(rows)
            self._set_model(ForestArrays.from_sklearn(forest), None, rows)
        self._sample = []

    def _set_model(
        self, forest: ForestArrays, quantiles: list[float] | None, rows: np.ndarray | None
    ) -> None:
        self._forest = forest
        self._scorer = IsolationScorer(forest)
        if quantiles is None:
            quantiles = np.quantile(self._scorer.score(rows), np.linspace(0, 1, QUANTILES)).tolist()
        self._quantiles = np.array(quantiles, dtype=np.float64)

    # --- persistence ---------------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        state = BaselineState(
            started_at=self.started_at,
            learning_until=self.learning_until,
            finished=self.finished,
            macs=sorted(self._macs),
            ips=sorted(self._ips),
            services={src: sorted(s) for src, s in self._services.items()},
            ports={src: sorted(p) for src, p in self._ports.items()},
            peers={key: sorted(p) for key, p in self._peers.items()},
            server_clients=dict(self._server_clients),
            destinations={dst: sorted(c) for dst, c in self._destinations.items()},
            dhcp_servers=sorted(self._dhcp_servers),
            resolvers=sorted(self._resolvers),
            routines=sorted(self._routines),
            profiles=dict(self._profiles),
            sample=self._sample,
            sample_seen=self._sample_seen,
            rng_state=list(self._rng.getstate()[1]),
            forest=self._forest,
            score_quantiles=self._quantiles.tolist(),
        )
        return msgspec.msgpack.encode(state)

    @classmethod
    def from_bytes(cls, data: bytes, site: SiteConfig, random_state: int = 0) -> Baseline:
        state = decode_state(data)
        if state.version != STATE_VERSION:
            raise ValueError(f"baseline state version {state.version} is not {STATE_VERSION}")
        clock = [value for value in (state.started_at, state.learning_until) if value is not None]
        if not all(map(math.isfinite, clock)):
            raise ValueError("baseline state: its start or end of learning is not a finite number")
        baseline = cls(site, random_state)
        baseline.started_at, baseline.learning_until = state.started_at, state.learning_until
        baseline.finished = state.finished
        baseline._macs, baseline._ips = set(state.macs), set(state.ips)
        baseline._services = {src: set(s) for src, s in state.services.items()}
        baseline._ports = {src: set(p) for src, p in state.ports.items()}
        baseline._peers = {key: set(p) for key, p in state.peers.items()}
        baseline._server_clients = dict(state.server_clients)
        baseline._destinations = {dst: set(c) for dst, c in state.destinations.items()}
        baseline._dhcp_servers = set(state.dhcp_servers)
        baseline._resolvers = set(state.resolvers)
        baseline._routines = set(state.routines)
        for ip, profile in state.profiles.items():
            if len(profile.mean) != len(FLOW_FEATURES) or len(profile.m2) != len(FLOW_FEATURES):
                raise ValueError(f"baseline state: profile of {ip} has the wrong number of features")
            if profile.count < 0 or not all(map(math.isfinite, profile.mean + profile.m2)):
                raise ValueError(f"baseline state: profile of {ip} has a negative count or a non-number")
            baseline._profiles[ip] = profile
        if any(len(row) != len(FLOW_FEATURES) or not all(map(math.isfinite, row)) for row in state.sample):
            raise ValueError("baseline state: a sampled row has the wrong number of features or a non-number")
        baseline._sample, baseline._sample_seen = state.sample, state.sample_seen
        if state.rng_state:
            try:
                baseline._rng.setstate((3, tuple(state.rng_state), None))
            except (ValueError, TypeError, OverflowError):
                raise ValueError("baseline state: bad random generator state") from None
        if state.forest is not None:
            if len(state.score_quantiles) != QUANTILES or not np.isfinite(state.score_quantiles).all():
                raise ValueError("baseline state: model without its score quantiles")
            baseline._set_model(state.forest, state.score_quantiles, None)
        return baseline
