"""A Python client for orqa's gRPC API (OpenQA and Admin on orqa-gateway).

    from orqa_client import Client
    with Client("127.0.0.1:50051") as orqa:
        result = orqa.answer("Who wrote the Origin of Species?", k=5)
        print(result.answers[0].text, result.answers[0].evidence.passage)

Errors are raised as OrqaError, which carries the gRPC status code and orqa's
message. Calls that fail UNAVAILABLE (a backend restarting) are retried with
backoff (0.2 s doubling, `retries` times) within the call's deadline, as the
gateway's documentation asks of clients; every other error is raised at once.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence

import grpc
from google.protobuf import json_format

from orqa_client._gen.orqa.v1 import admin_pb2, admin_pb2_grpc, openqa_pb2, openqa_pb2_grpc, trainer_pb2, types_pb2

__all__ = ["Client", "Tls", "OrqaError", "Answer", "Evidence", "RetrievedBlock", "AnswerResult", "Jobs"]

_RETRIEVAL = {
    None: types_pb2.RETRIEVAL_MODE_UNSPECIFIED,
    "dense": types_pb2.RETRIEVAL_MODE_DENSE,
    "sparse": types_pb2.RETRIEVAL_MODE_SPARSE,
    "hybrid": types_pb2.RETRIEVAL_MODE_HYBRID,
}
_KINDS = {
    "finetune": trainer_pb2.JOB_KIND_FINETUNE,
    "build-index": trainer_pb2.JOB_KIND_BUILD_INDEX,
    "mlm": trainer_pb2.JOB_KIND_PRETRAIN_MLM,
    "ict": trainer_pb2.JOB_KIND_PRETRAIN_ICT,
    "realm": trainer_pb2.JOB_KIND_PRETRAIN_REALM,
    "reader": trainer_pb2.JOB_KIND_TRAIN_READER,
}


class OrqaError(Exception):
    """A failed call: `code` is the grpc.StatusCode, `message` orqa's message
    (it names the field, backend or file that was wrong)."""

    def __init__(self, code: grpc.StatusCode, message: str, method: str = ""):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.method = method


@dataclass
class Tls:
    """TLS to the gateway: `ca` (PEM file) verifies its certificate; `cert`
    and `key` are presented when the gateway requires client certificates."""

    ca: str
    cert: Optional[str] = None
    key: Optional[str] = None

    def credentials(self) -> grpc.ChannelCredentials:
        def read(path):
            with open(path, "rb") as f:
                return f.read()

        return grpc.ssl_channel_credentials(
            root_certificates=read(self.ca),
            private_key=read(self.key) if self.key else None,
            certificate_chain=read(self.cert) if self.cert else None,
        )


@dataclass
class Evidence:
    block_id: int
    title: str
    passage: str
    answer_char_begin: int  # code points, half-open, in passage
    answer_char_end: int


@dataclass
class Answer:
    text: str
    score: float
    reader_score: float
    retrieval_score: float
    evidence: Evidence


@dataclass
class RetrievedBlock:
    id: int
    title: str
    text: str
    score: float


@dataclass
class AnswerResult:
    question: str
    answers: List[Answer]
    retrieved: List[RetrievedBlock] = field(default_factory=list)
    timings: Dict[str, float] = field(default_factory=dict)
    embedder_version: str = ""
    reader_version: str = ""

    @property
    def best(self) -> Optional[Answer]:
        return self.answers[0] if self.answers else None


def _result(question: str, r: openqa_pb2.AnswerResponse) -> AnswerResult:
    answers = [
        Answer(a.text, a.score, a.reader_score, a.retrieval_score,
               Evidence(a.evidence.block_id, a.evidence.title, a.evidence.passage, a.evidence.answer_char_begin,
                        a.evidence.answer_char_end))
        for a in r.answers
    ]
    blocks = [RetrievedBlock(b.id, b.title, b.text, b.retrieval_score) for b in r.retrieved]
    timings = json_format.MessageToDict(r.timings, preserving_proto_field_name=True) if r.HasField("timings") else {}
    return AnswerResult(question, answers, blocks, timings, r.embedder_version, r.reader_version)


def _dict(message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


class Client:
    """One channel to orqa-gateway. `token` is the admin token (Admin calls:
    status, jobs, deploy); `timeout` the default deadline of a call in seconds."""

    def __init__(self, target: str = "127.0.0.1:50051", token: Optional[str] = None, tls: Optional[Tls] = None,
                 timeout: float = 30.0, retries: int = 3, options: Sequence = ()):
        opts = [("grpc.max_receive_message_length", 64 << 20)] + list(options)
        self._channel = (grpc.secure_channel(target, tls.credentials(), options=opts) if tls
                         else grpc.insecure_channel(target, options=opts))
        self._openqa = openqa_pb2_grpc.OpenQAStub(self._channel)
        self._admin = admin_pb2_grpc.AdminStub(self._channel)
        self.target, self.token, self.timeout, self.retries = target, token, timeout, retries
        self.jobs = Jobs(self)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------
    def _metadata(self, admin: bool):
        if not admin:
            return None
        if not self.token:
            raise OrqaError(grpc.StatusCode.UNAUTHENTICATED, "this call needs the admin token: Client(token=...)")
        return [("authorization", f"Bearer {self.token}")]

    def _call(self, method, request, name: str, admin: bool = False, timeout: Optional[float] = None):
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        pause = 0.2
        for attempt in range(self.retries + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                raise OrqaError(grpc.StatusCode.DEADLINE_EXCEEDED, f"{name}: deadline exceeded", name)
            try:
                return method(request, timeout=left, metadata=self._metadata(admin))
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.UNAVAILABLE and attempt < self.retries and \
                        time.monotonic() + pause < deadline:
                    time.sleep(pause)
                    pause *= 2
                    continue
                raise OrqaError(e.code(), e.details() or "", name) from None

    # -- OpenQA -------------------------------------------------------------
    def answer(self, question: str, k: int = 0, num_answers: int = 1, retrieval: Optional[str] = None,
               read_k: int = 0, return_retrieved: bool = False, return_timings: bool = False,
               timeout: Optional[float] = None) -> AnswerResult:
        """Answers one question. `retrieval`: None (the gateway's default),
        "dense", "sparse" or "hybrid"."""
        if retrieval not in _RETRIEVAL:
            raise ValueError(f"retrieval: expected dense, sparse, hybrid or None, got {retrieval!r}")
        req = openqa_pb2.AnswerRequest(question=question, k=k, num_answers=num_answers, read_k=read_k,
                                       return_retrieved=return_retrieved, return_timings=return_timings,
                                       retrieval=_RETRIEVAL[retrieval])
        return _result(question, self._call(self._openqa.Answer, req, "Answer", timeout=timeout))

    def batch_answer(self, questions: Sequence[str], k: int = 0, num_answers: int = 1,
                     retrieval: Optional[str] = None, read_k: int = 0, return_retrieved: bool = False,
                     timeout: Optional[float] = None) -> List[AnswerResult]:
        """Answers 1 to 256 questions in one call, results in order."""
        if retrieval not in _RETRIEVAL:
            raise ValueError(f"retrieval: expected dense, sparse, hybrid or None, got {retrieval!r}")
        req = openqa_pb2.BatchAnswerRequest(questions=list(questions), k=k, num_answers=num_answers, read_k=read_k,
                                            return_retrieved=return_retrieved, retrieval=_RETRIEVAL[retrieval])
        resp = self._call(self._openqa.BatchAnswer, req, "BatchAnswer", timeout=timeout)
        return [_result(q, r) for q, r in zip(questions, resp.responses)]

    # -- Admin --------------------------------------------------------------
    def status(self) -> dict:
        """Health, versions and shard layout of every backend (Admin.GetStatus)."""
        return _dict(self._call(self._admin.GetStatus, admin_pb2.GetStatusRequest(), "GetStatus", admin=True))

    def deploy(self, checkpoint_dir: str = "", job_id: str = "", weights_path: str = "", embedder: bool = False,
               reader: bool = False, timeout: Optional[float] = None) -> dict:
        """Hot-swaps a checkpoint directory, or a job's best checkpoint, into
        the retrievers and the reader (both unless one is asked for)."""
        req = admin_pb2.DeployRequest(checkpoint_dir=checkpoint_dir, job_id=job_id, weights_path=weights_path,
                                      embedder=embedder, reader=reader)
        return _dict(self._call(self._admin.Deploy, req, "Deploy", admin=True,
                                timeout=timeout if timeout is not None else max(self.timeout, 600)))


class Jobs:
    """The trainer's jobs through the gateway's Admin API."""

    def __init__(self, client: Client):
        self._c = client

    def start(self, kind: str, **spec) -> dict:
        """Queues a job: kind finetune, build-index, mlm, ict, realm or reader;
        `spec` are JobSpec fields (model_dir, train_path, output_dir, num_steps,
        batch_size, learning_rate, ...). Returns the Job as a dict."""
        if kind not in _KINDS:
            raise ValueError(f"kind: expected one of {', '.join(_KINDS)}, got {kind!r}")
        try:
            job_spec = trainer_pb2.JobSpec(kind=_KINDS[kind], **spec)
        except (ValueError, TypeError) as e:
            raise ValueError(f"spec: {e}") from None
        req = admin_pb2.StartJobRequest(spec=job_spec)
        return _dict(self._c._call(self._c._admin.StartJob, req, "StartJob", admin=True))

    def start_finetune(self, **spec) -> dict:
        return self.start("finetune", **spec)

    def list(self) -> List[dict]:
        resp = self._c._call(self._c._admin.ListJobs, admin_pb2.ListJobsRequest(), "ListJobs", admin=True)
        return [_dict(j) for j in resp.jobs]

    def get(self, job_id: str) -> dict:
        return _dict(self._c._call(self._c._admin.GetJob, admin_pb2.GetJobRequest(job_id=job_id), "GetJob",
                                   admin=True))

    def cancel(self, job_id: str) -> dict:
        return _dict(self._c._call(self._c._admin.CancelJob, admin_pb2.CancelJobRequest(job_id=job_id),
                                   "CancelJob", admin=True))

    def watch(self, job_id: str, timeout: Optional[float] = None) -> Iterator[dict]:
        """Yields the job's progress events (dicts with `job` and `message`)
        until it ends; the last carries the final state."""
        try:
            stream = self._c._admin.WatchJob(admin_pb2.WatchJobRequest(job_id=job_id), timeout=timeout,
                                             metadata=self._c._metadata(True))
            for event in stream:
                yield _dict(event)
        except grpc.RpcError as e:
            raise OrqaError(e.code(), e.details() or "", "WatchJob") from None
