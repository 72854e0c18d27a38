import { MemoryOutboxStore } from "../../src/outbox/memory_outbox_store.ts";
import { outboxStoreContract } from "./outbox_store_contract.ts";

outboxStoreContract("MemoryOutboxStore", { open: () => new MemoryOutboxStore() });
