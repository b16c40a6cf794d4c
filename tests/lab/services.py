"""Real Debian servers started inside the lab namespaces, each with its own config under the work folder."""

from __future__ import annotations

import os
import pwd
import subprocess
import textwrap
import time
from pathlib import Path

from tests.lab.topology import EXTERNAL, EXTERNAL_NAMES, HOSTS, INTERNET, TUNNEL_DOMAIN, Processes, ns, run

# Local accounts on every lab host (namespaces share the machine's /etc/passwd). carol's password is weak
# and sits in the attackers' word list: one brute force succeeds against her.
USERS = {
    "alice": "Corp!Admin-2718",  # the IT admin
    "bob": "Winter2026!bob",  # a user of the file server (FTP, telnet, intranet)
    "carol": "dragon99",  # weak password
    "svc_backup": "Bk-9f2!x77Lq",  # the backup job's account (uses a key)
}
DB_USER, DB_PASSWORD = "app", "Db#app-5512"
SMB_USER, SMB_PASSWORD = "bob", USERS["bob"]
VNC_PASSWORD = "vncPass7"
TUNNEL_PASSWORD = "tunnelpw42"
INTRANET_USER, INTRANET_PASSWORD = "bob", "intranet-bob-77"


def ensure_users(work: Path) -> None:
    for user, password in USERS.items():
        if run("id", user, check=False).returncode != 0:
            run("useradd", "--create-home", "--shell", "/bin/bash", user)
        subprocess.run(["chpasswd"], input=f"{user}:{password}\n", text=True, check=True)
    keys = work / "keys"
    keys.mkdir(exist_ok=True)
    for owner in ("alice", "svc_backup"):
        key = keys / owner
        if not key.exists():
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{owner}@lab", "-f", str(key))
        ssh_dir = Path(pwd.getpwnam(owner).pw_dir) / ".ssh"  # the home useradd gave it
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text((keys / f"{owner}.pub").read_text())
        run("chown", "-R", f"{owner}:{owner}", str(ssh_dir))
        os.chmod(ssh_dir / "authorized_keys", 0o600)


def remove_users() -> None:
    for user in USERS:
        run("userdel", "--remove", user, check=False)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def _wait_port(namespace: str, address: str, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe = run("nc", "-z", "-w", "1", address, str(port), namespace=namespace, check=False)
        if probe.returncode == 0:
            return
        time.sleep(0.3)
    raise RuntimeError(f"{address}:{port} in {namespace} did not open within {timeout:.0f} s")


class Services:
    def __init__(self, work: Path, processes: Processes) -> None:
        self.work = work
        self.processes = processes

    def start_all(self) -> None:
        ensure_users(self.work)
        self._certificate()
        self._web_content()
        self.dnsmasq()
        for host in ("gw", "mon", "srv1", "db1", "admin", *(f"ws{i}" for i in range(1, 7))):
            self.sshd(host, [22, 2222] if host == "srv1" else [22])
        self.sshd_internet()
        self.vsftpd(21)
        self.vsftpd(2121)
        self.telnetd()
        self.nginx_intranet()
        self.nginx_internet()
        self.samba()
        self.mariadb()
        self.postgresql()
        self.vnc()
        self.ntp_server()
        self.c2_servers()
        self.iodined()
        self._wait_all()

    def _wait_all(self) -> None:
        srv1, db1 = HOSTS["srv1"].ip, HOSTS["db1"].ip
        for port in (22, 2222, 21, 2121, 23, 80, 443, 445):
            _wait_port(ns("ws1"), srv1, port)
        for port in (3306, 3307, 5432):
            _wait_port(ns("ws1"), db1, port, timeout=60)
        _wait_port(ns("ws1"), HOSTS["ws5"].ip, 5900)
        for name in ("updates", "www1", "c2"):
            _wait_port(ns("ws1"), EXTERNAL[name], 443)
        _wait_port(ns("ws1"), EXTERNAL["c2ws"], 443)
        _wait_port(ns("ws1"), EXTERNAL["backup"], 22)

    # --- certificates and content -------------------------------------------------------------------------
    def _certificate(self) -> None:
        self.cert, self.key = self.work / "tls" / "lab.crt", self.work / "tls" / "lab.key"
        if self.cert.exists():
            return
        self.cert.parent.mkdir(exist_ok=True)
        names = [*EXTERNAL_NAMES.values(), "intranet.corp.lab", "srv1.corp.lab"]
        san = ",".join(f"DNS:{name}" for name in names)
        run(
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
            "-subj", "/CN=lab self-signed", "-addext", f"subjectAltName={san}",
            "-keyout", str(self.key), "-out", str(self.cert),
        )  # fmt: skip

    def _web_content(self) -> None:
        www = self.work / "www"
        self.www = www
        if (www / "downloads" / "tool-2mb.bin").exists():
            return
        (www / "downloads").mkdir(parents=True, exist_ok=True)
        (www / "updates").mkdir(exist_ok=True)
        for size_kb in (40, 120, 300, 2048):
            (www / "downloads" / f"tool-{size_kb}kb.bin").write_bytes(os.urandom(size_kb * 1024))
        os.rename(www / "downloads" / "tool-2048kb.bin", www / "downloads" / "tool-2mb.bin")
        (www / "updates" / "latest.json").write_text('{"product":"vendorsoft","version":"4.12.7","critical":false}\n')
        for page in range(1, 21):
            body = "<p>" + ("lorem ipsum dolor sit amet " * (40 * page)) + "</p>"
            (www / f"page{page}.html").write_text(
                f"<html><head><title>page {page}</title></head><body>{body}</body></html>"
            )
        (www / "index.html").write_text("<html><body>welcome</body></html>")
        (www / "health").write_text("ok\n")

    # --- DNS ------------------------------------------------------------------------------------------------
    def dnsmasq(self) -> None:
        lines = [
            "no-resolv", "no-hosts", "bind-interfaces", f"listen-address={HOSTS['dns'].ip}",
            "domain=corp.lab", "local=/corp.lab/", "cache-size=1000", "log-facility=/dev/null",
            f"server=/{TUNNEL_DOMAIN}/{EXTERNAL['tunnel']}",
        ]  # fmt: skip
        lines += [f"address=/{name}/{EXTERNAL[key]}" for key, name in EXTERNAL_NAMES.items()]
        lines += [f"host-record={host.name}.corp.lab,{host.ip}" for host in HOSTS.values()]
        lines += ["host-record=intranet.corp.lab,10.77.0.10"]
        conf = _write(self.work / "dnsmasq.conf", "\n".join(lines) + "\n")
        self.processes.start("dnsmasq", ["dnsmasq", "-k", "-C", str(conf), "--pid-file="], ns("dns"))

    # --- SSH ------------------------------------------------------------------------------------------------
    def _sshd_config(self, tag: str, listen: list[str]) -> Path:
        folder = self.work / "sshd" / tag
        folder.mkdir(parents=True, exist_ok=True)
        key = folder / "ssh_host_ed25519_key"
        if not key.exists():
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))
        Path("/run/sshd").mkdir(exist_ok=True)
        listens = "\n".join(f"ListenAddress {item}" for item in listen)
        return _write(
            folder / "sshd_config",
            f"""
            {listens}
            HostKey {key}
            PidFile {folder}/sshd.pid
            UsePAM yes
            PasswordAuthentication yes
            KbdInteractiveAuthentication no
            PermitRootLogin prohibit-password
            Subsystem sftp internal-sftp
            LogLevel QUIET
            """,
        )

    def sshd(self, host: str, ports: list[int]) -> None:
        ip = HOSTS[host].ip
        conf = self._sshd_config(host, [f"{ip}:{port}" for port in ports])
        self.processes.start(f"sshd-{host}", ["/usr/sbin/sshd", "-D", "-f", str(conf)], ns(host))

    def sshd_internet(self) -> None:
        conf = self._sshd_config("inet", [f"{EXTERNAL['backup']}:22", f"{EXTERNAL['drop']}:22"])
        self.processes.start("sshd-inet", ["/usr/sbin/sshd", "-D", "-f", str(conf)], INTERNET)

    # --- FTP, telnet ----------------------------------------------------------------------------------------
    def vsftpd(self, port: int) -> None:
        Path("/var/run/vsftpd/empty").mkdir(parents=True, exist_ok=True)
        conf = _write(
            self.work / f"vsftpd-{port}.conf",
            f"""
            listen=YES
            listen_address={HOSTS["srv1"].ip}
            listen_port={port}
            background=NO
            anonymous_enable=NO
            local_enable=YES
            write_enable=YES
            pasv_enable=YES
            pasv_min_port=30000
            pasv_max_port=30100
            seccomp_sandbox=NO
            secure_chroot_dir=/var/run/vsftpd/empty
            pam_service_name=vsftpd
            ftpd_banner=Welcome to corp file server.
            xferlog_enable=NO
            """,
        )
        self.processes.start(f"vsftpd-{port}", ["vsftpd", str(conf)], ns("srv1"))

    def telnetd(self) -> None:
        conf = _write(
            self.work / "inetd.conf",
            f"{HOSTS['srv1'].ip}:telnet stream tcp nowait root /usr/sbin/telnetd telnetd\n",
        )
        self.processes.start("inetd-telnet", ["/usr/sbin/inetd", "-d", str(conf)], ns("srv1"))

    # --- web ------------------------------------------------------------------------------------------------
    def _nginx(self, tag: str, servers: str, namespace: str) -> None:
        prefix = self.work / f"nginx-{tag}"
        for sub in ("logs", "tmp"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        conf = _write(
            prefix / "nginx.conf",
            f"""
            user root;
            worker_processes 1;
            pid {prefix}/nginx.pid;
            error_log {prefix}/logs/error.log warn;
            events {{ worker_connections 512; }}
            http {{
                access_log off;
                client_body_temp_path {prefix}/tmp;
                proxy_temp_path {prefix}/tmp;
                fastcgi_temp_path {prefix}/tmp;
                uwsgi_temp_path {prefix}/tmp;
                scgi_temp_path {prefix}/tmp;
                default_type application/octet-stream;
                ssl_certificate {self.cert};
                ssl_certificate_key {self.key};
                {servers}
            }}
            """,
        )
        self.processes.start(
            f"nginx-{tag}", ["nginx", "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"], namespace
        )

    def nginx_intranet(self) -> None:
        ip = HOSTS["srv1"].ip
        htpasswd = self.work / "htpasswd"
        hashed = run("openssl", "passwd", "-apr1", INTRANET_PASSWORD).stdout.strip()
        htpasswd.write_text(f"{INTRANET_USER}:{hashed}\n")
        servers = f"""
            server {{
                listen {ip}:80; listen {ip}:443 ssl; listen {ip}:8080;
                root {self.www};
                location /admin/ {{
                    auth_basic "corp intranet"; auth_basic_user_file {htpasswd}; try_files $uri /index.html;
                }}
            }}"""
        self._nginx("intranet", servers, ns("srv1"))

    def nginx_internet(self) -> None:
        listens = " ".join(
            f"listen {EXTERNAL[name]}:443 ssl http2; listen {EXTERNAL[name]}:80;"
            for name in ("updates", "backup", "www1", "www2", "cdn", "drop")
        )
        servers = f"""
            server {{
                {listens}
                root {self.www};
                location /upload/ {{
                    root {self.work}/recv; dav_methods PUT; create_full_put_path on; client_max_body_size 0;
                }}
            }}"""
        self._nginx("internet", servers, INTERNET)

    # --- SMB, VNC -------------------------------------------------------------------------------------------
    def samba(self) -> None:
        base = self.work / "samba"
        for sub in ("private", "lock", "state", "cache", "pid", "share", "log"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        (base / "share" / "budget-2026.xlsx").write_bytes(os.urandom(200_000))
        run("chmod", "-R", "a+rwx", str(base / "share"))
        conf = _write(
            base / "smb.conf",
            f"""
            [global]
            workgroup = CORP
            netbios name = SRV1
            server role = standalone server
            interfaces = {HOSTS["srv1"].ip}/24
            bind interfaces only = yes
            smb ports = 445
            disable netbios = yes
            # hydra's and medusa's SMB modules speak SMB1 only: the lab server accepts it beside SMB2/3.
            server min protocol = NT1
            ntlm auth = yes
            private dir = {base}/private
            lock directory = {base}/lock
            state directory = {base}/state
            cache directory = {base}/cache
            pid directory = {base}/pid
            log file = {base}/log/smbd.log
            passdb backend = tdbsam
            load printers = no
            printing = bsd
            printcap name = /dev/null
            [finance]
            path = {base}/share
            read only = no
            """,
        )
        subprocess.run(
            ["smbpasswd", "-c", str(conf), "-a", "-s", SMB_USER],
            input=f"{SMB_PASSWORD}\n{SMB_PASSWORD}\n", text=True, check=True, capture_output=True,
        )  # fmt: skip
        self.processes.start("smbd", ["smbd", "-F", "--no-process-group", "-s", str(conf)], ns("srv1"))

    def vnc(self) -> None:
        passwd = self.work / "vncpasswd"
        passwd.write_bytes(
            subprocess.run(
                ["vncpasswd", "-f"], input=f"{VNC_PASSWORD}\n".encode(), capture_output=True, check=True
            ).stdout
        )
        os.chmod(passwd, 0o600)
        command = [
            "Xvnc", ":5", "-rfbport", "5900", "-interface", HOSTS["ws5"].ip, "-SecurityTypes", "VncAuth",
            "-rfbauth", str(passwd), "-geometry", "800x600", "-nolisten", "tcp", "-localhost", "no",
            # TigerVNC blacklists a client after 5 failures, which stalls the guessing tools for minutes.
            "-BlacklistThreshold", "100000",
        ]  # fmt: skip
        self.processes.start("xvnc", command, ns("ws5"))

    # --- databases ------------------------------------------------------------------------------------------
    def mariadb(self) -> None:
        data, sock = self.work / "mariadb", self.work / "mariadb.sock"
        fresh = not (data / "mysql").exists()
        if fresh:
            run("mariadb-install-db", "--user=root", f"--datadir={data}", "--auth-root-authentication-method=socket")
        # One server on 3306 and on a second port (extra_port), both speaking the real MySQL protocol.
        command = [
            "mariadbd", "--user=root", f"--datadir={data}", f"--socket={sock}", "--port=3306",
            "--extra-port=3307", "--extra-max-connections=200", f"--bind-address={HOSTS['db1'].ip}",
            f"--pid-file={data}/mariadb.pid",
            "--skip-log-bin", "--max-connect-errors=1000000",
        ]  # fmt: skip
        self.processes.start("mariadb", command, ns("db1"))
        _wait_port(ns("db1"), HOSTS["db1"].ip, 3306, timeout=60)
        sql = (
            f"CREATE USER IF NOT EXISTS '{DB_USER}'@'%' IDENTIFIED BY '{DB_PASSWORD}'; "
            f"CREATE DATABASE IF NOT EXISTS crm; GRANT ALL ON crm.* TO '{DB_USER}'@'%';"
        )
        run("mariadb", f"--socket={sock}", "-uroot", "-e", sql, namespace=ns("db1"))

    def postgresql(self) -> None:
        data = self.work / "pgdata"
        bin_dir = next(Path("/usr/lib/postgresql").glob("*/bin"))
        if not (data / "PG_VERSION").exists():
            data.mkdir(parents=True, exist_ok=True)
            run("chown", "postgres:postgres", str(data))
            pwfile = self.work / "pg-superuser-password"
            pwfile.write_text("postgres-admin-pw\n")
            run("chown", "postgres", str(pwfile))
            run(
                "runuser",
                "-u",
                "postgres",
                "--",
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-A",
                "scram-sha-256",
                f"--pwfile={pwfile}",
            )
            with (data / "pg_hba.conf").open("a") as hba:
                hba.write("host all all 10.77.0.0/24 scram-sha-256\n")
        command = [
            "runuser", "-u", "postgres", "--", str(bin_dir / "postgres"), "-D", str(data),
            "-c", f"listen_addresses={HOSTS['db1'].ip}", "-c", f"unix_socket_directories={data}",
        ]  # fmt: skip
        self.processes.start("postgresql", command, ns("db1"))
        _wait_port(ns("db1"), HOSTS["db1"].ip, 5432, timeout=60)
        env = {**os.environ, "PGPASSWORD": "postgres-admin-pw"}
        sql = (
            f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='{DB_USER}') THEN "
            f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{DB_PASSWORD}'; END IF; END$$;"
        )
        run(
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-h",
            str(data),
            "-U",
            "postgres",
            "-c",
            sql,
            namespace=ns("db1"),
            env=env,
        )

    # --- the internet's own services ------------------------------------------------------------------------
    def ntp_server(self) -> None:
        folder = self.work / "chrony-server"
        conf = _write(
            folder / "chrony.conf",
            f"""
            local stratum 3
            allow 10.77.0.0/24
            bindaddress {EXTERNAL["ntp"]}
            cmdport 0
            pidfile {folder}/chronyd.pid
            driftfile {folder}/drift
            """,
        )
        # -x: never touch the machine's clock.
        self.processes.start("chrony-server", ["chronyd", "-d", "-x", "-f", str(conf)], INTERNET)

    def ntp_client(self, host: str) -> None:
        folder = self.work / f"chrony-{host}"
        conf = _write(
            folder / "chrony.conf",
            f"""
            server {EXTERNAL["ntp"]} iburst minpoll 6 maxpoll 6
            cmdport 0
            pidfile {folder}/chronyd.pid
            driftfile {folder}/drift
            """,
        )
        self.processes.start(f"chrony-{host}", ["chronyd", "-d", "-x", "-f", str(conf)], ns(host))

    def c2_servers(self) -> None:
        actors = Path(__file__).with_name("actors.py")
        common = ["python3", str(actors)]
        tls = ["--cert", str(self.cert), "--key", str(self.key)]
        self.processes.start("c2-https", [*common, "c2-server", "--bind", EXTERNAL["c2"], *tls], INTERNET)
        self.processes.start("c2-ws", [*common, "c2-ws-server", "--bind", EXTERNAL["c2ws"], *tls], INTERNET)

    def iodined(self) -> None:
        command = [
            "iodined",
            "-f",
            "-c",
            "-l",
            EXTERNAL["tunnel"],
            "-P",
            TUNNEL_PASSWORD,
            "10.99.0.1/27",
            TUNNEL_DOMAIN,
        ]
        self.processes.start("iodined", command, INTERNET)
