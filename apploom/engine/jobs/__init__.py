"""Jobs: work a user started that runs off the request (an import, a bulk transition), on
a thread of the process that started it, with its progress in ``sys_job`` (service), each
step written where its work commits (progress), taken up by the outbox worker if that
process dies."""
