"""Reading Tailscale's JSON and building its commands (pure functions).

Operators rely on: the public host is the node's MagicDNS name; a logged-out or stopped node
says so instead of producing a broken URL; odd or empty ``serve status`` output never crashes
the daemon; a failed funnel says what Tailscale needs and links to the admin page that enables
it; and the command lines are exactly the ones the Tailscale docs give.
"""

from __future__ import annotations

import pytest

from voicecall_cli.core.tunnels import tailscale as ts

HOST = "voicebox.tail4c2a9.ts.net"
HP = f"{HOST}:443"
TARGET = "http://127.0.0.1:3334/voice/webhook"

STATUS = {
    "BackendState": "Running",
    "Self": {"ID": "nK3q7fHVbC11CNTRL", "HostName": "voicebox", "DNSName": HOST + ".",
             "TailscaleIPs": ["100.101.102.103"], "Online": True},
    "MagicDNSSuffix": "tail4c2a9.ts.net",
}
CONFIG = {
    "TCP": {"443": {"HTTPS": True}},
    "Web": {HP: {"Handlers": {
        "/voice/webhook": {"Proxy": TARGET},
        "/files": {"Path": "/srv/www"},
        "/hello": {"Text": "hi"},
    }}},
    "AllowFunnel": {HP: True},
}
GARBAGE = [None, "", "null", 3, [], [{"Web": {}}], {"Self": None}, {"Self": "x"},
           {"Self": {"DNSName": 7, "ID": []}}, {"Web": []}, {"Web": {HP: None}},
           {"Web": {HP: {"Handlers": []}}}, {"Web": {HP: {"Handlers": {"/a": "b"}}}},
           {"Web": {HP: {"Handlers": {"/a": {"Proxy": 5}}}}}, {"AllowFunnel": [HP]},
           {"AllowFunnel": {HP: "true"}}]


# -- status --------------------------------------------------------------------------------------


def test_the_dns_name_loses_its_trailing_dot_and_the_node_id_is_self_id() -> None:
    assert ts.dns_name(STATUS) == HOST
    assert ts.node_id(STATUS) == "nK3q7fHVbC11CNTRL"
    assert ts.backend_state(STATUS) == "Running"


@pytest.mark.parametrize("state", ["NeedsLogin", "Stopped"])
def test_a_node_without_a_dns_name_says_its_state(state: str) -> None:
    status = {"BackendState": state, "Self": {"ID": "", "DNSName": ""}}
    assert ts.dns_name(status) is None
    assert ts.node_id(status) is None
    message = ts.no_dns_message(status)
    assert message.startswith("Could not get Tailscale DNS name. Is Tailscale running?")
    assert f"Tailscale is {state}" in message
    assert "tailscale up" in message


def test_a_running_node_without_a_name_gets_the_plain_message() -> None:
    assert ts.no_dns_message({"BackendState": "Running", "Self": {}}) == \
        "Could not get Tailscale DNS name. Is Tailscale running?"
    assert ts.dns_name({"Self": {"DNSName": "."}}) is None


@pytest.mark.parametrize("garbage", GARBAGE)
def test_odd_json_reads_as_nothing_and_never_raises(garbage: object) -> None:
    assert ts.dns_name(garbage) is None
    assert ts.node_id(garbage) is None
    assert ts.serve_handlers(garbage) == {}
    assert ts.funnel_allowed(garbage, HP) is False
    assert ts.no_dns_message(garbage).startswith("Could not get Tailscale DNS name.")
    assert ts.exposure_conflict(garbage, HP, "funnel", {}) is None


# -- serve status --------------------------------------------------------------------------------


def test_handlers_map_host_port_and_mount_to_the_proxy_target() -> None:
    handlers = ts.serve_handlers(CONFIG)
    assert handlers[(HP, "/voice/webhook")] == TARGET
    assert handlers[(HP, "/files")] == "files at /srv/www"  # not a proxy: still someone's route
    assert handlers[(HP, "/hello")] == "a text reply"
    assert ts.funnel_allowed(CONFIG, HP) is True
    assert ts.funnel_allowed(CONFIG, f"{HOST}:8443") is False


@pytest.mark.parametrize("empty", [{}, None])
def test_an_empty_config_has_no_handlers(empty: object) -> None:
    assert ts.serve_handlers(empty) == {}


def test_a_bad_entry_is_skipped_and_the_good_ones_kept() -> None:
    config = {"Web": {HP: {"Handlers": {"/ok": {"Proxy": TARGET}, "/bad": None}},
                      "other:443": "junk"}}
    assert ts.serve_handlers(config) == {(HP, "/ok"): TARGET}


def test_a_foreign_route_is_one_with_another_target() -> None:
    assert ts.foreign_route(CONFIG, HP, "/voice/webhook", TARGET) is None
    assert ts.foreign_route(CONFIG, HP, "/voice/webhook", TARGET + "/") is None
    assert ts.foreign_route(CONFIG, HP, "/voice/stream", TARGET) is None
    assert ts.foreign_route(CONFIG, HP, "/voice/webhook", "http://127.0.0.1:9/x") == TARGET
    assert ts.foreign_route(CONFIG, HP, "/files", TARGET) == "files at /srv/www"


def test_funnel_would_publish_a_users_tailnet_routes() -> None:
    private = {"Web": {HP: {"Handlers": {"/grafana": {"Proxy": "http://127.0.0.1:3000"},
                                         "/voice/webhook": {"Proxy": TARGET}}}}}
    conflict = ts.exposure_conflict(private, HP, "funnel", {"/voice/webhook": TARGET})
    assert conflict is not None and "/grafana" in conflict and "internet" in conflict
    assert ts.exposure_conflict(private, HP, "serve", {"/voice/webhook": TARGET}) is None
    # only our own routes there: nothing of the user's changes
    ours = {"Web": {HP: {"Handlers": {"/voice/webhook": {"Proxy": TARGET}}}}}
    assert ts.exposure_conflict(ours, HP, "funnel", {"/voice/webhook": TARGET}) is None


def test_serve_would_unpublish_a_users_funnel_routes() -> None:
    conflict = ts.exposure_conflict(CONFIG, HP, "serve", {"/voice/webhook": TARGET})
    assert conflict is not None and "/files" in conflict and "/hello" in conflict
    assert "/voice/webhook" not in conflict
    assert ts.exposure_conflict(CONFIG, HP, "funnel", {"/voice/webhook": TARGET}) is None
    assert ts.exposure_conflict(CONFIG, f"{HOST}:8443", "serve", {}) is None


# -- commands ------------------------------------------------------------------------------------


def test_the_serve_and_off_command_lines() -> None:
    assert ts.serve_command("funnel", "/voice/webhook", TARGET) == [
        "funnel", "--bg", "--yes", "--https=443", "--set-path=/voice/webhook", TARGET]
    assert ts.serve_command("serve", "/p", TARGET, https_port=8443) == [
        "serve", "--bg", "--yes", "--https=8443", "--set-path=/p", TARGET]
    assert ts.off_command("serve", "/p") == ["serve", "--https=443", "--set-path=/p", "off"]
    assert ts.off_command("funnel", "/p", 10000) == [
        "funnel", "--https=10000", "--set-path=/p", "off"]


def test_public_base_omits_port_443() -> None:
    assert ts.public_base(HOST, 443) == f"https://{HOST}"
    assert ts.public_base(HOST, 8443) == f"https://{HOST}:8443"
    assert ts.host_port(HOST, 8443) == f"{HOST}:8443"
    assert ts.FUNNEL_PORTS == (443, 8443, 10000)


def test_enable_url_needs_a_node_id() -> None:
    assert ts.enable_url("funnel", "nABC") == "https://login.tailscale.com/f/funnel?node=nABC"
    assert ts.enable_url("serve", "nABC") == "https://login.tailscale.com/f/serve?node=nABC"
    assert ts.enable_url("funnel", None) is None


def test_a_denied_funnel_says_what_it_needs_and_links_the_admin_page() -> None:
    output = ('Funnel not available; "funnel" node attribute not set. '
              "See https://tailscale.com/s/no-funnel.\nmore detail\n")
    message, hint = ts.failure("funnel", 1, output, "nABC")
    assert message.startswith("Tailscale funnel failed with code 1: Funnel not available;")
    assert "more detail" not in message
    assert "HTTPS certificates" in message and "funnel node attribute" in message
    assert "443, 8443 or 10000" in message and ".." not in message
    assert hint == {"note": "Tailscale serve/funnel may be disabled on this tailnet "
                            "(or require admin enable).",
                    "enableUrl": "https://login.tailscale.com/f/funnel?node=nABC"}


def test_a_failed_serve_has_no_funnel_advice_and_may_lack_a_link() -> None:
    message, hint = ts.failure("serve", 2, "", None)
    assert message == "Tailscale serve failed with code 2"
    assert hint["enableUrl"] is None


def test_the_link_tailscale_printed_wins_and_a_timeout_has_no_code() -> None:
    printed = "Serve is not enabled on your tailnet.\nTo enable, visit:\n\n" \
              "  https://login.tailscale.com/f/serve?node=nPRINTED\n"
    message, hint = ts.failure("serve", None, printed, "nOTHER")
    assert message == "Tailscale serve failed: Serve is not enabled on your tailnet."
    assert hint["enableUrl"] == "https://login.tailscale.com/f/serve?node=nPRINTED"
