/**
 * A listening port as systemd's tools show it: the kind under systemd's name and the address.
 */
import { formatListenAddress, formatNetlinkAddress } from "../unit/listen-address.ts";
import type { ListenPort } from "../unit/socket-config.ts";

export interface ListenInfo {
  /** systemd's names: Stream, Datagram, SequentialPacket, FIFO, Special, Netlink, MessageQueue, USBFunction. */
  type: string;
  address: string;
}

const LISTEN_TYPE: Record<ListenPort["kind"], string> = {
  stream: "Stream",
  datagram: "Datagram",
  seqpacket: "SequentialPacket",
  fifo: "FIFO",
  special: "Special",
  netlink: "Netlink",
  mqueue: "MessageQueue",
  "usb-function": "USBFunction",
};

export function listenInfo(p: ListenPort): ListenInfo {
  const address = "address" in p ? formatListenAddress(p.address) : "netlink" in p ? formatNetlinkAddress(p.netlink) : p.path;
  return { type: LISTEN_TYPE[p.kind], address };
}
