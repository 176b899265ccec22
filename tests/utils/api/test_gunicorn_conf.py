"""The gunicorn settings every API instance runs with, read the way gunicorn reads them."""

from gunicorn.config import Config

from utils.runtime.processes import gunicorn_command


def project_config() -> Config:
    config = Config()
    command = gunicorn_command("utils.api.app:create_app_from_project()", "127.0.0.1:0", 2)
    path = command[command.index("--config") + 1]
    assert path == "python:utils.api.gunicorn_conf"
    import utils.api.gunicorn_conf as settings

    for name in config.settings:
        if hasattr(settings, name):
            config.set(name, getattr(settings, name))
    return config


def test_no_control_socket_shared_between_instances():
    assert project_config().control_socket_disable is True


def test_gevent_worker_with_bounded_connections():
    config = project_config()
    assert config.worker_class_str == "utils.api.gunicorn_worker.JsonErrorWorker"
    assert config.worker_connections == 10_000


def test_the_open_files_limit_is_raised_to_the_pool_within_the_hard_limit():
    import resource

    from utils.api.gunicorn_conf import raise_open_files_limit

    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, before[1]))
        assert raise_open_files_limit(2000) == min(2000, before[1])
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == min(2000, before[1])
        assert raise_open_files_limit(1500) == min(2000, before[1]), "never lowered"
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)
