"""The `wuye` command: init, staff, train, parse, faq check/export, eval, bench, apikey, serve.

Heavy imports (Rasa, TensorFlow) happen inside the commands, so `wuye --help` and `wuye faq check` are fast.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

from sqlalchemy import select

from bot.access import accounts, auth, first_run, staff_import
from bot.access.auth import sign_community_link
from bot.access.passwords import verify_password
from bot.core import logs
from bot.core.domain import ConversationStatus
from bot.core.errors import InvalidSender, WuyeError, check_identifier
from bot.core.settings import Settings, apply_process_env_defaults, get_settings
from bot.core.tables import ImportRowsInvalid, read_table
from bot.households.imports import KINDS, run_import
from bot.kb.community import load_communities, sync_communities
from bot.kb.knowledge import KnowledgeBaseError, KnowledgeBaseUnavailable, KnowledgeHolder, load_knowledge_base
from bot.main import create_app
from bot.nlu.lexicon import check_lexicon
from bot.nlu.normalize import check_tables
from bot.nlu.parser import NluParser
from bot.nlu.training import current_model, train, write_faq_training_data
from bot.routing.router import first_message_route
from bot.services import build_services
from bot.storage import retention
from bot.storage.db import open_database
from bot.storage.models import Staff
from bot.tools import evaluation, scale, selection
from bot.tools.backup import BackupError, backup, restore
from bot.tools.bench import bench_nlu
from bot.tools.bench_chat import bench_chat
from bot.tools.bench_import import bench_import
from bot.tools.bench_kb import bench_kb
from bot.tools.bench_scaleout import bench_scaleout
from bot.tools.bench_serve import bench_serve
from bot.tools.bench_staff import bench_staff
from bot.tools.demo import DEMO_PASSWORDS, load_demo_data
from bot.tools.screenshots import take_screenshots
from bot.tools.serving import serve_workers
from bot.work_orders import sla

apply_process_env_defaults()  # before Rasa/TensorFlow are imported by any command


def _quiet_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not verbose:
        for name in ("rasa", "tensorflow", "absl", "jieba", "py.warnings", "matplotlib"):
            logging.getLogger(name).setLevel(logging.ERROR)
        import warnings

        warnings.filterwarnings("ignore")
        # libraries imported later put their own filters first ("once"/"always" for DeprecationWarning): warnings
        # go to the "py.warnings" logger instead, silenced above, so training prints no page of them
        logging.captureWarnings(True)
        try:
            import jieba

            jieba.setLogLevel(logging.ERROR)
        except ImportError:  # pragma: no cover
            pass


def load_parser(settings: Settings, train_if_missing: bool = True, knowledge=None):
    """The NLU for the current data: trains first if the model is missing or stale. When the knowledge base does
    not validate, the problems are printed and the last good model serves (the last good knowledge base with it)."""

    if train_if_missing:
        try:
            result = train(settings)
        except KnowledgeBaseError as exc:
            _print_problems(exc)
        else:
            if result.trained:
                print(f"trained {result.model_path.name} in {result.seconds:.1f} s", file=sys.stderr)
            return NluParser.load(result.model_path, knowledge=knowledge)
    model = current_model(settings)
    if model is None:
        raise SystemExit("no trained model in models/: run `wuye train`")
    return NluParser.load(model, knowledge=knowledge)


def _print_problems(exc: KnowledgeBaseError) -> None:
    print(f"知识库有 {len(exc.problems)} 处问题，继续使用上一个正确的版本（修改后用 `wuye faq check` 检查）：", file=sys.stderr)
    for problem in exc.problems:
        print(f"error: {problem}", file=sys.stderr)


def cmd_train(args: argparse.Namespace) -> int:

    try:
        result = train(get_settings(), force=args.force)
    except KnowledgeBaseError as exc:
        _print_problems(exc)
        model = current_model(get_settings())
        print(f"not trained: the last good model keeps serving ({model.name if model else 'none yet'})",
              file=sys.stderr)
        return 1
    if result.trained:
        print(f"trained {result.model_path} in {result.seconds:.1f} s (fingerprint {result.fingerprint[:16]})")
    else:
        print(f"up to date: {result.model_path} (fingerprint {result.fingerprint[:16]}); use --force to retrain")
    return 0


def parse_json(parser, text: str, with_tokens: bool = False, faq_support=None) -> dict:

    reading = parser.parse(text)
    out = reading.as_api()
    out["route"] = first_message_route(reading, parser.parse, faq_support=faq_support).as_api()
    if with_tokens:
        out["tokens"] = reading.tokens
    return out


def cmd_parse(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not args.texts:
        print("usage: wuye parse TEXT... | wuye parse -", file=sys.stderr)
        return 2
    try:
        knowledge = KnowledgeHolder(settings)  # the last good version when the files do not validate
    except KnowledgeBaseUnavailable as exc:
        print(exc.args[0], file=sys.stderr)
        return 1
    for problem in knowledge.problems:
        print(f"error: {problem}", file=sys.stderr)
    parser = load_parser(settings, train_if_missing=not args.no_train and not knowledge.problems,
                         knowledge=knowledge)
    support = knowledge.current.support
    texts = args.texts
    if texts == ["-"]:
        for line in sys.stdin:
            text = line.rstrip("\n")
            if not text.strip():
                continue
            print(json.dumps(parse_json(parser, text, args.tokens, support), ensure_ascii=False), flush=True)
        return 0
    for text in texts:
        print(json.dumps(parse_json(parser, text, args.tokens, support), ensure_ascii=False))
    return 0


def cmd_faq(args: argparse.Namespace) -> int:


    settings = get_settings()
    table_problems = check_tables(settings.normalize_dir)
    for problem in table_problems:
        print(f"error: {settings.normalize_dir}/{problem}", file=sys.stderr)

    lexicon_problems = check_lexicon(settings.lexicon_dir)  # the general-knowledge names (data/nlu/lexicon)
    for problem in lexicon_problems:
        print(f"error: {settings.lexicon_dir}/{problem}", file=sys.stderr)
    table_problems = list(table_problems) + list(lexicon_problems)

    sla_problems = sla.check(settings.data_dir / "sla.yml", [c.id for c in load_communities(settings.communities_file)])
    for problem in sla_problems:  # the work-order desk's time limits (data/sla.yml)
        print(f"error: {problem}", file=sys.stderr)
    table_problems = list(table_problems) + list(sla_problems)
    try:
        kb = load_knowledge_base(settings.faq_dir, settings.communities_file)
    except KnowledgeBaseError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"{len(exc.problems) + len(table_problems)} problem(s) in the knowledge base and normalisation tables",
              file=sys.stderr)
        return 1
    if table_problems:
        print(f"{len(table_problems)} problem(s) in the normalisation tables", file=sys.stderr)
        return 1
    if args.faq_command == "export":

        path = write_faq_training_data(settings, kb)
        print(f"wrote {path}")
        return 0
    for hint in kb.hints():
        print(f"hint: {hint}", file=sys.stderr)
    questions = sum(len(e.questions) for e in kb.active.values())
    retired = len(kb.entries) - len(kb.active)
    print(f"ok: {len(kb.active)} FAQ entries" + (f" (+{retired} retired)" if retired else "") +
          f", {questions} questions, {len(kb.communities)} communities; normalisation tables ok; work-order SLAs ok")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:

    settings = get_settings()
    out_dir = Path(args.out)
    if args.smp2017:
        result = evaluation.evaluate_smp2017(settings, Path(args.smp2017), out_dir)
        print(result["markdown"])
        print(f"reports: {out_dir}/smp2017.json, {out_dir}/smp2017.md")
        return 0
    parser = load_parser(settings)
    report = evaluation.evaluate_heldout(parser, evaluation.load_heldout(settings.heldout_file))
    md = evaluation.heldout_markdown(report)
    evaluation.write_reports(report, md, out_dir, "heldout")
    print(md.split("\nErrors:")[0])

    support = load_knowledge_base(settings.faq_dir, settings.communities_file).support
    for stem, path in (("styles", settings.styles_heldout_file), ("styles_b", settings.styles_b_heldout_file)):
        items = evaluation.load_styles(path)
        styles = evaluation.evaluate_styles(parser, items, support)
        styles["in_conversation"] = evaluation.evaluate_styles_in_conversation(settings, parser, items)
        smd = evaluation.styles_markdown(styles, str(path.relative_to(settings.root)))
        evaluation.write_reports(styles, smd, out_dir, stem)
        print(smd.split("\nErrors")[0])
    followups = evaluation.evaluate_followups(settings, parser, evaluation.load_followups(settings.followups_heldout_file))
    fmd = evaluation.followups_markdown(followups)
    evaluation.write_reports(followups, fmd, out_dir, "followups")
    print(fmd.split("\nErrors")[0])
    uncovered = [evaluation.evaluate_uncovered(parser, p, support) for p in settings.uncovered_heldout_files if p.exists()]
    urgency = [evaluation.evaluate_urgency(parser, p, support) for p in settings.urgency_heldout_files if p.exists()]
    omd = evaluation.open_set_markdown(uncovered, urgency)
    evaluation.write_reports({"uncovered": uncovered, "urgency": urgency}, omd, out_dir, "open_set")
    print(omd)
    print(f"reports: {out_dir}/heldout.json, {out_dir}/heldout.md, {out_dir}/styles[_b].json, {out_dir}/styles[_b].md, "
          f"{out_dir}/followups.json, {out_dir}/followups.md, {out_dir}/open_set.json, {out_dir}/open_set.md")
    return 0


def cmd_cv(args: argparse.Namespace) -> int:
    if args.cold:
        report = selection.cold_entry(get_settings())
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "cold_entry.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), "utf-8")
        worst = min(report["per_entry"].items(), key=lambda kv: kv[1]["right"])
        print(f"cold-entry protocol ({report['keep_questions']} questions + title + answer; {report['phrasings']} "
              f"phrasings): {json.dumps(report['overall'])}; lowest entry: {worst[0]} {json.dumps(worst[1])}")
        print("by the phrasing's author: " + "; ".join(f"{a} {v['right']:.3f}/{v['wrong']:.3f} (n {v['n']})"
                                                        for a, v in report["per_author"].items()))
        print(f"uncovered development questions (U1, {report['uncovered_questions']}) answered from an entry, over the "
              f"folds: {report['uncovered_answered']:.1%}")
        print(f"report: {args.out}/cold_entry.json")
        return 0

    report = selection.run(get_settings(), Path(args.out) / "cv.json", quick=args.quick, with_rasa=args.with_rasa)
    md = selection.markdown(report)
    (Path(args.out) / "cv.md").write_text(md + "\n", encoding="utf-8")
    print(md)
    print(f"reports: {args.out}/cv.json, {args.out}/cv.md")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.bench_command == "kb":
        print(bench_kb(get_settings(), entries=args.entries))
        return 0
    if args.bench_command == "import":
        print(bench_import(get_settings(), households=args.households, bills=args.bills, postgres_url=args.postgres))
        return 0
    if args.bench_command == "staff":
        today = dt.date.fromisoformat(args.today) if args.today else None
        bench_staff(get_settings(), args.database or get_settings().database_url, runs=args.runs, budget=args.budget,
                    today=today, only=args.only, username=args.username, password=args.password,
                    out=lambda line: print(line, flush=True))  # each row as measured
        return 0
    if args.bench_command == "chat":
        bench_chat(get_settings(), url=args.url, key=args.key, database=args.database, workers=args.workers,
                   residents=args.residents, seconds=args.seconds, redis_url=args.redis, sql=args.sql,
                   warmup=args.warmup)
        return 0
    if args.bench_command == "scaleout":
        bench_scaleout(get_settings(), instances=[int(n) for n in args.instances.split(",")],
                       residents=[int(n) for n in args.residents.split(",")], seconds=args.seconds,
                       database=args.database, redis_url=args.redis, pgbouncer=args.pgbouncer,
                       out=lambda line: print(line, flush=True))
        return 0
    if args.bench_command == "serve":

        print(bench_serve(get_settings(), seconds=args.seconds, postgres_url=args.postgres, workers=args.workers))
        return 0

    print(bench_nlu(get_settings(), n=args.messages))
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:

    settings = get_settings()
    db = open_database(args.database or settings.database_url)
    today = dt.date.fromisoformat(args.today) if args.today else dt.date.today()
    with db.session() as session:
        counts = load_demo_data(session, load_communities(settings.communities_file), today=today)
    if args.scale:
        preset = scale.PRESETS[args.scale]
        sizes = scale.Scale(**{k: getattr(args, k) if getattr(args, k) is not None else getattr(preset, k)
                               for k in scale.Scale.__dataclass_fields__})
        print(f"loading {sizes} …", flush=True)
        for line in scale.run(db.engine, sizes, today):
            print(line)
        return 0
    if counts.get("households"):
        print("demo data loaded: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        print("staff logins: " + ", ".join(f"{u}/{p}" for u, p in DEMO_PASSWORDS.items()))
    else:
        print("database already has data: nothing loaded")
    return 0


def render_turn(result) -> str:

    lines = []
    for reply in result.replies:
        lines.append("助手> " + reply.text.replace("\n", "\n      "))
        if reply.buttons:
            lines.append("      " + "  ".join(f"[{i + 1}] {b.title}" for i, b in enumerate(reply.buttons)))
    if result.handoff:
        h = result.handoff
        extra = f"，排队第 {h['queue_position']} 位" if h["queue_position"] else ""
        ticket = f"，留言编号 {h['ticket']}" if h.get("ticket") else ""
        lines.append(f"      〔人工：{h['status']}，优先级 {h['priority']}{extra}{ticket}〕")
    if not result.replies and result.status == ConversationStatus.OPEN:
        lines.append("      〔人工客服正在处理，助手保持安静〕")
    return "\n".join(lines)


def cmd_chat(args: argparse.Namespace) -> int:

    settings = get_settings()
    services = build_services(settings, load_parser(settings))
    sender = args.sender
    print(f"wuye 对话（身份 {sender}；输入数字选择按钮，Ctrl-D 退出）")
    last_buttons = []
    while True:
        try:
            text = input("我> ").strip()
        except EOFError:
            print()
            return 0
        if not text:
            continue
        if text.isdigit() and 0 < int(text) <= len(last_buttons):
            text = last_buttons[int(text) - 1].payload
        try:
            result = services.engine.handle("cli", sender, text, community_id=args.community)
        except WuyeError as exc:  # empty, too long, corrupt text
            print(f"错误：{exc.message}")
            continue
        last_buttons = [b for r in result.replies for b in r.buttons]
        print(render_turn(result))


def cmd_apikey(args: argparse.Namespace) -> int:
    """API keys for `/api/chat`: create (the key is printed once), list, revoke."""
    import datetime as dt


    db = open_database(get_settings().database_url)
    now = dt.datetime.now()
    with db.session() as session:
        if args.apikey_command == "create":
            try:
                name = check_identifier(args.name, max_len=64).strip()
            except InvalidSender:
                print("名称必须是 1–64 个可见字符", file=sys.stderr)
                return 2
            row, key = auth.create_api_key(session, name, None, now, scopes=args.scope or ["chat"])
            print(key)
            print(f"API 密钥 #{row.id}「{row.name}」已创建。密钥只显示这一次，请立即保存；"
                  f"调用 /api/chat 时放在请求头 Authorization: Bearer <密钥> 里。", file=sys.stderr)
            return 0
        if args.apikey_command == "revoke":
            row = auth.revoke_api_key(session, args.id, now)
            if row is None:
                print(f"找不到 API 密钥 #{args.id}", file=sys.stderr)
                return 1
            print(f"API 密钥 #{row.id}「{row.name}」已吊销")
            return 0
        for row in auth.list_api_keys(session):
            state = f"已吊销 {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "有效"
            scopes = "、".join({"chat": "对话", "import": "数据导入"}.get(s, s) for s in auth.scopes_of(row))
            print(f"#{row.id}\t{row.prefix}…\t{row.name}\t{scopes}\t创建于 {row.created_at:%Y-%m-%d %H:%M}\t{state}")
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    """Each kind of personal data's retention period (show), or delete/blank what has expired now (run): the same
    job the server's timers run every WUYE_RETENTION_POLL seconds, for cron or an operator's check."""
    settings = get_settings()
    if args.retention_command == "show":
        for row in retention.periods(settings):
            print(f"{row['label']}\t{row['days']} 天\t{row['what']}")
        return 0
    counts = retention.run(open_database(settings.database_url), settings, dt.datetime.utcnow())
    labels = {"messages": "消息", "context_cards": "转人工资料卡", "callback_phones": "回电号码", "contact_phones": "工单联系电话", "photos": "照片",
              "codes": "验证码", "setup_tokens": "首次设置令牌", "rate_events": "频率限制记录", "seen_messages": "消息去重记录"}
    print("数据保留：" + "，".join(f"{labels[key]} {value}" for key, value in counts.items()))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Households, bills or parking from an ERP's CSV/.xlsx: all-or-nothing upserts (bot/households/imports.py);
    staff accounts likewise (bot/access/staff_import.py)."""
    settings = get_settings()
    path = Path(args.file)
    if not path.is_file():
        print(f"找不到文件：{path}", file=sys.stderr)
        return 2
    db = open_database(settings.database_url)
    communities = load_communities(settings.communities_file)
    with db.session() as session:  # the 小区 of data/communities.yml, as the server would have them at start-up
        sync_communities(session, communities)
    try:
        with db.session() as session:
            if args.kind == staff_import.KIND:
                header, rows = read_table(path.read_bytes(), path.name, None)
                result = staff_import.import_staff(session, header, rows, communities=staff_import.community_ids(communities),
                                                   dry_run=args.dry_run,
                                                   retired=[c.id for c in communities if c.retired])
            else:
                result = run_import(session, args.kind, path.read_bytes(), path.name, dry_run=args.dry_run,
                                    default_community=args.community, max_bytes=None,  # the web's limit is not the CLI's
                                    retired=[c.id for c in communities if c.retired])
            if args.dry_run:
                session.rollback()
    except ImportRowsInvalid as exc:
        result = exc.result
    except WuyeError as exc:  # an unreadable file, an unknown 小区
        print(json.dumps(exc.body(), ensure_ascii=False) if args.json else f"错误：{exc.message}",
              file=sys.stdout if args.json else sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.as_json(), ensure_ascii=False))
    elif result.errors_total:
        print(f"未导入：{path.name} 有 {result.errors_total} 处问题，什么都没有保存：", file=sys.stderr)
        for error in result.errors:
            print(f"  第 {error['row']} 行「{error['column']}」：{error['message']}", file=sys.stderr)
        if result.errors_total > len(result.errors):
            print(f"  ……另有 {result.errors_total - len(result.errors)} 处", file=sys.stderr)
    else:
        print(result.summary())
        for account in getattr(result, "passwords", []):  # new staff accounts: shown once, changed at first sign-in
            print(f"  {account['username']}\t{account['display_name']}\t初始密码 {account['password']}")
    return 1 if result.errors_total else 0


def cmd_backup(args: argparse.Namespace) -> int:
    url = get_settings().database_url
    try:
        if args.backup_command == "backup":
            print(f"已备份到 {backup(url, Path(args.file))}")
        else:
            restore(url, Path(args.file), force=args.force)
            print(f"已从 {args.file} 恢复")
    except BackupError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 1
    return 0


def cmd_screenshots(args: argparse.Namespace) -> int:

    settings = get_settings()
    for path in take_screenshots(settings, load_parser(settings), Path(args.out), args.chromium):
        print(f"wrote {path}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn


    settings = get_settings()
    refusal = refuse_unsafe_production(settings)
    if refusal:
        print(refusal, file=sys.stderr)
        return 3
    logs.configure()  # one JSON object a line, with the request id, phone numbers masked
    host, port = args.host or settings.host, args.port or settings.port
    if args.workers > 1:  # each worker loads the model (~1.5 s, ~320 MB); share events and limits with Redis/PostgreSQL

        train(settings)  # once, before the workers start, not once per worker

        serve_workers(host, port, args.workers)  # one listening socket per worker (SO_REUSEPORT), see bot/tools/serving.py
    else:
        app = create_app(settings, on_ready=lambda services: print(welcome(services, host, port), file=sys.stderr,
                                                                   flush=True))
        uvicorn.run(app, host=host, port=port, log_level="warning", log_config=None, access_log=False)
    return 0


def cmd_community_link(args: argparse.Namespace) -> int:
    from urllib.parse import quote


    settings = get_settings()
    known = {c.id: c for c in load_communities(settings.communities_file)}
    if args.community not in known:
        print(f"error: no 小区 {args.community!r} in {settings.communities_file} (known: {', '.join(known)})",
              file=sys.stderr)
        return 2
    base = (args.base or f"http://{settings.host}:{settings.port}").rstrip("/")
    link = sign_community_link(settings.secret_key, args.community)
    print(f"{known[args.community].values.get('community_name', args.community)}")
    print(f"widget: {base}/?c={quote(link)}")
    print(f'embed:  <script src="{base}/embed.js" data-community="{link}" async></script>')
    return 0


# --- a real company's start: the first admin, staff accounts, and the refusal to serve production unsafely ------

def read_password(prompt: str = "密码 password: ") -> str:
    """The password from stdin when it is not a terminal (scripts, `echo … | wuye staff add`), else asked twice
    without echo. Never an argument: arguments end up in shell history and `ps`."""
    import getpass

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(prompt)
    if getpass.getpass("再输入一次 again: ") != first:
        raise SystemExit("两次输入的密码不一致 (the passwords differ)")
    return first


def _ask(value: Optional[str], prompt: str) -> str:
    if value:
        return value
    if not sys.stdin.isatty():
        raise SystemExit(f"缺少 {prompt}（非交互运行时请用参数给出）")
    return input(f"{prompt}: ").strip()


def _known_communities(settings: Settings) -> List[str]:
    return [c.id for c in load_communities(settings.communities_file) if not c.retired]  # a retired 小区 takes none


def cmd_init(args: argparse.Namespace) -> int:
    """The company's first admin on an empty database: no demo data, no demo password."""
    settings = get_settings()
    db = open_database(settings.database_url)  # creates the schema (migrations)
    with db.session() as session:
        if session.scalar(select(Staff.id).limit(1)) is not None:
            print("数据库里已有员工账号，未做任何改动；用 `wuye staff add` 添加员工。\n"
                  "The database already has staff accounts: nothing changed (use `wuye staff add`).", file=sys.stderr)
            return 1
    if args.web:
        with db.session() as session:
            token = first_run.issue_token(session, dt.datetime.utcnow())
        print(f"首次设置令牌：{token}\n{int(first_run.TOKEN_LIFETIME.total_seconds() // 3600)} 小时内有效，只能使用一次。"
              f"启动 `wuye serve` 后打开 /admin，用它创建第一个管理员。\n"
              f"One-time setup token for the first admin in /admin (valid "
              f"{int(first_run.TOKEN_LIFETIME.total_seconds() // 3600)} h).")
        return 0
    username = _ask(args.username, "管理员用户名 admin username")
    display_name = _ask(args.display_name, "姓名 display name")
    password = read_password()
    with db.session() as session:
        try:
            staff = accounts.create_staff(session, username=username, display_name=display_name, password=password,
                                          role="admin", community_id=None, known_communities=(),
                                          must_change_password=False)  # they chose it themselves just now
        except WuyeError as exc:
            print(f"错误：{exc.message}", file=sys.stderr)
            return 2
        print(f"已创建管理员 {staff.username}（{staff.display_name}）。启动 `wuye serve` 后在 /admin 登录，"
              f"在「员工」里添加客服和维修师傅。")
    return 0


def cmd_staff(args: argparse.Namespace) -> int:
    """`wuye staff add|list|disable|enable|passwd`: the same rules as the admin page's 员工 tab."""
    import datetime as dt

    settings = get_settings()
    db = open_database(settings.database_url)
    now = dt.datetime.utcnow()
    with db.session() as session:
        try:
            if args.staff_command == "list":
                names = {c.id: c.name for c in load_communities(settings.communities_file)}
                for staff in accounts.list_staff(session):
                    row = accounts.account_json(session, staff, now, names)
                    state = "已停用" if row["disabled"] else ("待改密码" if row["must_change_password"] else "正常")
                    print(f"#{staff.id}\t{staff.username}\t{staff.display_name}\t{row['role_label']}\t"
                          f"{row['community']}\t{state}\t在线会话 {row['sessions']}")
                return 0
            if args.staff_command == "add":
                password = read_password("初始密码 temporary password: ")
                staff = accounts.create_staff(session, username=args.username,
                                              display_name=args.display_name or args.username, password=password,
                                              role=args.role, community_id=args.community,
                                              known_communities=_known_communities(settings),
                                              must_change_password=True)
                print(f"已添加 {staff.username}（{accounts.ROLE_LABELS[staff.role]}）；首次登录须修改密码。")
                return 0
            staff = accounts.by_username(session, args.username)
            if args.staff_command in ("disable", "enable"):
                accounts.set_disabled(session, staff, args.staff_command == "disable", now)
                print(f"{staff.username} 已{'停用（所有会话已退出）' if staff.disabled_at else '启用'}")
                return 0
            accounts.reset_password(session, staff, read_password("新的临时密码 temporary password: "), now)
            print(f"{staff.username} 的密码已重置，所有会话已退出；下次登录须修改密码。")
            return 0
        except WuyeError as exc:
            session.rollback()
            print(f"错误：{exc.message}", file=sys.stderr)
            return 1 if exc.status in (404, 409) else 2


def production_problems(settings: Settings, db) -> List[str]:
    """Why this configuration must not serve a real company (WUYE_ENV=production), each in Chinese and English."""
    problems = []
    if settings.secret_key == _dev_secret(settings):  # WUYE_SECRET_KEY unset: the checkout's generated secret
        problems.append("WUYE_SECRET_KEY 未设置（正在使用开发密钥 .wuye-secret）：请设置为至少 32 个随机字符，"
                        "例如 `python -c 'import secrets; print(secrets.token_urlsafe(32))'`。\n"
                        "  WUYE_SECRET_KEY is not set (the development secret signs sessions): set a random value.")
    elif len(settings.secret_key) < 32:
        problems.append("WUYE_SECRET_KEY 太短：至少 32 个字符。\n  WUYE_SECRET_KEY is too short: 32 characters at least.")
    if not settings.secure_cookies:
        problems.append("Cookie 未设置 Secure（WUYE_SECURE_COOKIES 不是 1）：在 HTTPS 后面运行并设置 WUYE_SECURE_COOKIES=1。\n"
                        "  Cookies are sent over plain HTTP: serve behind HTTPS and set WUYE_SECURE_COOKIES=1.")
    with db.session() as session:
        demo = sorted(s.username for s in session.scalars(select(Staff).where(Staff.username.in_(DEMO_PASSWORDS)))
                      if s.disabled_at is None and verify_password(DEMO_PASSWORDS[s.username], s.password_hash))
    if demo:
        problems.append(f"演示账号仍在使用演示密码：{', '.join(demo)}。请用 `wuye staff passwd 用户名` 修改，"
                        f"或用 `wuye staff disable 用户名` 停用。\n"
                        f"  Demo accounts still have their demo passwords: {', '.join(demo)} "
                        f"(`wuye staff passwd NAME` or `wuye staff disable NAME`).")
    return problems


def _dev_secret(settings: Settings) -> Optional[str]:
    try:
        return (settings.root / ".wuye-secret").read_text().strip()
    except OSError:
        return None


def refuse_unsafe_production(settings: Settings) -> Optional[str]:
    """The message that stops `wuye serve` in production mode, or None (not production, or safe)."""
    if settings.env != "production":
        return None
    problems = production_problems(settings, open_database(settings.database_url))
    if not problems:
        return None
    return ("生产模式（WUYE_ENV=production）拒绝启动，请先修改以下设置：\n"
            "Refusing to start in production mode (WUYE_ENV=production); change these first:\n"
            + "\n".join(f"- {p}" for p in problems))


PAGES = [("/", "住户聊天窗口 resident widget", None), ("/agent", "客服工作台 agent console", "agent"),
         ("/admin", "管理后台 admin page", "admin"), ("/desk", "工单台 work-order desk", "tech1"),
         ("/docs", "API 文档 (Swagger UI)", None)]


def welcome(services, host: str, port: int) -> str:
    """What to open once the server is up, with the demo sign-ins while they still have their demo passwords."""
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    with services.db.session() as session:
        demo = {s.username for s in session.scalars(select(Staff).where(Staff.username.in_(DEMO_PASSWORDS)))
                if verify_password(DEMO_PASSWORDS[s.username], s.password_hash)}
    lines = ["", "wuye 物业客服助手 is ready — open:"]
    for path, label, user in PAGES:
        login = f"   sign in: {user} / {DEMO_PASSWORDS[user]}" if user in demo else ""
        lines.append(f"  {base + path:<32} {label}{login}")
    if demo:
        lines.append("  (demo accounts with demo passwords: change them before real use)")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wuye", description="物业客服助手 wuye")
    p.add_argument("-v", "--verbose", action="store_true", help="show Rasa/TensorFlow logs")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train the NLU model into models/ (skips when nothing changed)")
    t.add_argument("--force", action="store_true", help="retrain even if the model is up to date")
    t.set_defaults(func=cmd_train)

    pa = sub.add_parser("parse", help="parse texts into the /api/parse JSON shape ('-' reads stdin)")
    pa.add_argument("texts", nargs="*")
    pa.add_argument("--tokens", action="store_true", help="also print the jieba tokens")
    pa.add_argument("--no-train", action="store_true", help="use the newest model, never train")
    pa.set_defaults(func=cmd_parse)

    f = sub.add_parser("faq", help="knowledge base tools")
    fsub = f.add_subparsers(dest="faq_command", required=True)
    fsub.add_parser("check", help="validate data/faq/*.yml (errors with file and line)")
    fsub.add_parser("export", help="write the generated Rasa training data for faq/<id>")
    f.set_defaults(func=cmd_faq)

    e = sub.add_parser("eval", help="evaluate on the held-out set, or on SMP2017 with --smp2017 DIR")
    e.add_argument("--smp2017", metavar="DIR", help="SMP2017-ECDT task 1 folder (train/dev/test.tsv)")
    e.add_argument("--out", default="reports", help="where to write the JSON and Markdown reports")
    e.set_defaults(func=cmd_eval)

    cv = sub.add_parser("cv", help="choose the intent/FAQ design and thresholds by leave-one-author/style-out CV")
    cv.add_argument("--out", default="reports")
    cv.add_argument("--quick", action="store_true", help="only the chosen design")
    cv.add_argument("--with-rasa", action="store_true", help="also the stock Rasa anchor (ResponseSelector; ~6 min)")
    cv.add_argument("--cold", action="store_true",
                    help="only the cold-entry protocol: each entry kept to 3 questions + title + answer (~2 min)")
    cv.set_defaults(func=cmd_cv)

    b = sub.add_parser("bench", help="benchmarks")
    bsub = b.add_subparsers(dest="bench_command", required=True)
    bn = bsub.add_parser("nlu", help="parse latency p50/p99, throughput, model load time, peak memory")
    bn.add_argument("--messages", type=int, default=1000)
    bs = bsub.add_parser("serve", help="stock `rasa run` /model/parse vs `wuye serve` /api/parse side by side, "
                                       "then /api/chat on SQLite and PostgreSQL")
    bs.add_argument("--seconds", type=float, default=8.0, help="load per point")
    bs.add_argument("--postgres", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
                    help="an admin URL: a scratch database is created and dropped ('' to skip)")
    bs.add_argument("--workers", type=int, default=2, help="wuye serve workers for the PostgreSQL /api/chat run")
    bi = bsub.add_parser("import", help="generate households and bills files and import them into fresh SQLite and "
                                         "PostgreSQL databases (seconds per step)")
    bi.add_argument("--households", type=int, default=10_000)
    bi.add_argument("--bills", type=int, default=120_000)
    bi.add_argument("--postgres", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
                    help="an admin URL: a scratch database is created and dropped ('' to skip)")
    bk = bsub.add_parser("kb", help="a large knowledge base: training time, parse latency and memory with synthetic "
                                    "entries added to a scratch copy of data/")
    bk.add_argument("--entries", type=int, default=300)
    bst = bsub.add_parser("staff", help="the staff pages' APIs (desk list, failures, figures, work-order figures, "
                                        "one-year CSV exports) on a database: p50/p95 and an export's peak memory")
    bst.add_argument("--database", default=None, help="a database URL (default WUYE_DATABASE_URL), e.g. one filled "
                                                      "by `wuye demo-data --scale medium`")
    bst.add_argument("--runs", type=int, default=10, help="calls per endpoint after one warm-up")
    bst.add_argument("--budget", type=float, default=60.0, help="seconds per endpoint at most (fewer calls if slow)")
    bst.add_argument("--today", default=None, help="YYYY-MM-DD the one-year ranges end on (default today)")
    bst.add_argument("--only", default="", help="only endpoints whose name contains one of these (comma-separated)")
    bst.add_argument("--username", default="admin", help="an admin account of that database (default the demo's)")
    bst.add_argument("--password", default="admin123")
    bc = bsub.add_parser("chat", help="whole /api/chat turns: concurrent residents playing a realistic mix of "
                                      "conversations (FAQ, repair, fee with binding, person, emergency, outage, "
                                      "complaint, multi-part); msg/s, p50/p99 per kind of turn")
    bc.add_argument("--residents", type=int, default=16, help="concurrent residents (one connection each)")
    bc.add_argument("--seconds", type=float, default=20.0)
    bc.add_argument("--workers", type=int, default=1, help="wuye serve workers (> 1: PostgreSQL and --redis)")
    bc.add_argument("--database", default="", help="a database URL for the started server (default a scratch "
                                                   "SQLite file); the demo data is loaded if it has no households")
    bc.add_argument("--redis", default="", help="WUYE_REDIS_URL for the started server, e.g. redis://127.0.0.1:6379/0")
    bc.add_argument("--url", default="", help="drive this running server instead of starting one (no binding)")
    bc.add_argument("--key", default="", help="a chat API key of the --url server")
    bc.add_argument("--sql", action="store_true", help="then SQL statements per turn of each kind, counted in process")
    bc.add_argument("--warmup", action="store_true", help="count from each resident's second request: one FAQ turn "
                                                          "each first, not counted (a started server's first "
                                                          "requests are slow)")
    bso = bsub.add_parser("scaleout", help="N single-worker wuye serve instances behind nginx (deploy/nginx) on one "
                                           "PostgreSQL and one Redis, bench chat's mix through nginx: msg/s, p50/p99, "
                                           "CPU per turn of the instances, nginx, PostgreSQL and Redis")
    bso.add_argument("--instances", default="1,2,4", help="instance counts to measure, comma-separated")
    bso.add_argument("--residents", default="16,32", help="concurrent residents per instance count, comma-separated")
    bso.add_argument("--seconds", type=float, default=20.0, help="seconds of load per point")
    bso.add_argument("--database", default="", help="PostgreSQL URL (default a scratch database, dropped after)")
    bso.add_argument("--redis", default="", help="a Redis URL (default a private redis-server on a free port)")
    bso.add_argument("--pgbouncer", type=int, default=0, metavar="N", help="the instances reach PostgreSQL through a "
                     "private PgBouncer (transaction pooling) of N server connections (Debian's pgbouncer)")
    b.set_defaults(func=cmd_bench)

    d = sub.add_parser("demo-data", help="load the demo communities, households, bills, parking and work orders")
    d.add_argument("--database", default=None, help="a database URL (default WUYE_DATABASE_URL)")
    d.add_argument("--today", default=None, help="YYYY-MM-DD the data ends on (default today)")
    d.add_argument("--scale", choices=sorted(scale.PRESETS), default=None,
                   help="also years of synthetic history, batched (COPY on PostgreSQL): small (tests), medium (500 k "
                        "messages), large (2 M messages, the issue's production size); the options below override it")
    for name in scale.Scale.__dataclass_fields__:
        d.add_argument("--" + name.replace("_", "-"), type=int, default=None)
    d.set_defaults(func=cmd_demo_data)

    c = sub.add_parser("chat", help="talk to the assistant in the terminal (as a resident)")
    c.add_argument("--sender", default="cli-admin", help="chat identity to use")
    c.add_argument("--community", default=None, help="community id for an unbound identity")
    c.set_defaults(func=cmd_chat)

    cl = sub.add_parser("community-link", help="the signed widget link and embed line of one 小区 (its numbers, hours "
                                                "and on-duty phone answer residents who open it)")
    cl.add_argument("community", help="the 小区 id (data/communities.yml)")
    cl.add_argument("--base", default="", help="the public address, e.g. https://wuye.example.com (default: WUYE_HOST:WUYE_PORT)")
    cl.set_defaults(func=cmd_community_link)
    k = sub.add_parser("apikey", help="API keys for /api/chat integrations: create (shown once), list, revoke")
    ksub = k.add_subparsers(dest="apikey_command", required=True)
    kc = ksub.add_parser("create", help="create a named key and print it (once)")
    kc.add_argument("name", help="who uses the key, e.g. 物业App")
    kc.add_argument("--scope", action="append", choices=auth.API_KEY_SCOPES,
                    help="what the key may do: chat (/api/chat, the default) or import (/api/import/{kind}); repeatable")
    ksub.add_parser("list", help="name, prefix, created, revoked (never the key)")
    kr = ksub.add_parser("revoke", help="revoke a key by its number")
    kr.add_argument("id", type=int)
    k.set_defaults(func=cmd_apikey)

    rt = sub.add_parser("retention", help="personal data's retention periods (show), or delete/blank what has "
                                          "expired and print the counts (run)")
    rtsub = rt.add_subparsers(dest="retention_command", required=True)
    rtsub.add_parser("show", help="each kind of data and how long it is kept")
    rtsub.add_parser("run", help="delete or blank what is past its period now; prints how many of each")
    rt.set_defaults(func=cmd_retention)
    im = sub.add_parser("import", help="import households, bills or parking from an ERP's CSV (UTF-8/GBK) or .xlsx, "
                                       "or staff accounts (new ones get a temporary password, printed once)")
    im.add_argument("kind", choices=KINDS + (staff_import.KIND,))
    im.add_argument("file")
    im.add_argument("--dry-run", action="store_true", help="check and count only; nothing is stored")
    im.add_argument("--json", action="store_true", help='print {"created","updated","unchanged","errors":[…]}')
    im.add_argument("--community", default=None, help="the 小区 id (or name) when the file has no 小区 column")
    im.set_defaults(func=cmd_import)

    for name, text in (("backup", "copy the database to FILE (SQLite: online backup; PostgreSQL: pg_dump -Fc)"),
                       ("restore", "load FILE made by `wuye backup` into the (empty) configured database")):
        bp = sub.add_parser(name, help=text)
        bp.add_argument("file")
        if name == "restore":
            bp.add_argument("--force", action="store_true", help="replace a database that already has data")
        bp.set_defaults(func=cmd_backup, backup_command=name)

    sc = sub.add_parser("screenshots", help="regenerate docs/screenshots (needs Debian's chromium)")
    sc.add_argument("--out", default="docs/screenshots")
    sc.add_argument("--chromium", default="/usr/bin/chromium")
    sc.set_defaults(func=cmd_screenshots)

    i = sub.add_parser("init", help="a real start: create the company's first admin on an empty database (no demo "
                                    "data); the password is read from stdin when it is not a terminal")
    i.add_argument("--username", help="the admin's username (asked when missing)")
    i.add_argument("--display-name", help="the admin's name as colleagues see it (asked when missing)")
    i.add_argument("--web", action="store_true", help="print a one-time setup token instead: the first admin is then "
                                                       "created in the browser at /admin")
    i.set_defaults(func=cmd_init)

    st = sub.add_parser("staff", help="staff accounts: add, list, disable, enable, passwd (passwords from stdin when "
                                      "it is not a terminal; the member changes it at first sign-in)")
    stsub = st.add_subparsers(dest="staff_command", required=True)
    sa = stsub.add_parser("add", help="add an account")
    sa.add_argument("username")
    sa.add_argument("--role", required=True, choices=["agent", "admin", "technician"])
    sa.add_argument("--community", default=None, help="the 小区 served (data/communities.yml id); default: every 小区")
    sa.add_argument("--display-name", default=None, help="default: the username")
    stsub.add_parser("list", help="every account: role, 小区, state, signed-in sessions")
    for name, text in (("disable", "disable an account and sign it out everywhere"), ("enable", "enable it again"),
                       ("passwd", "set a temporary password (signs out everywhere; changed at next sign-in)")):
        stsub.add_parser(name, help=text).add_argument("username")
    st.set_defaults(func=cmd_staff)

    s = sub.add_parser("serve", help="run the HTTP server")
    s.add_argument("--host", help="default: WUYE_HOST or 127.0.0.1")
    s.add_argument("--port", type=int, help="default: WUYE_PORT or 8000")
    s.add_argument("--workers", type=int, default=1, help="processes (PostgreSQL and WUYE_REDIS_URL when > 1)")
    s.set_defaults(func=cmd_serve)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_logging(args.verbose)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
