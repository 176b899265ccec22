import os
import stat

import pytest

from utils.files import atomic_copy, atomic_write, atomic_write_text, sha256_file


def test_replaces_content_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_failing_writer_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("complete old content")

    def half_write(tmp):
        tmp.write_text("half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_write)
    assert target.read_text() == "complete old content"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_new_files_follow_the_umask(tmp_path):
    atomic_write_text(tmp_path / "f", "x")
    mode = stat.S_IMODE(os.stat(tmp_path / "f").st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_copy_and_hash(tmp_path):
    source = tmp_path / "a"
    source.write_bytes(b"abc")
    atomic_copy(source, tmp_path / "sub" / "b")
    assert sha256_file(tmp_path / "sub" / "b") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_a_source_folder_with_a_link_loop_is_one_error_naming_the_link(tmp_path):
    from utils.errors import PipelineError
    from utils.files import data_files_in

    (tmp_path / "good.csv").write_text("a\n1\n")
    (tmp_path / "self.csv").symlink_to("self.csv")
    with pytest.raises(PipelineError, match=r"self\.csv: a symbolic link loop"):
        data_files_in(tmp_path)
    (tmp_path / "self.csv").unlink()
    (tmp_path / "ping.csv").symlink_to("pong.csv")
    (tmp_path / "pong.csv").symlink_to("ping.csv")
    with pytest.raises(PipelineError, match=r"ping\.csv: a symbolic link loop"):
        data_files_in(tmp_path)
    loop = tmp_path / "sub"
    loop.mkdir()
    (loop / "me").symlink_to(loop / "me")
    with pytest.raises(PipelineError, match=r"sub/me: a symbolic link loop"):
        data_files_in(loop / "me")


def test_a_loop_anywhere_in_a_path_is_named_as_one_on_every_python(tmp_path):
    """Python 3.13's resolve() returns a looping path instead of raising: still one error."""
    from utils.errors import PipelineError
    from utils.files import UnfollowableLink, follow_links, resolved

    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    for looping in [tmp_path / "a", tmp_path / "a" / "data.csv"]:
        with pytest.raises(UnfollowableLink, match="a symbolic link loop"):
            follow_links(looping)
        with pytest.raises(PipelineError, match="a symbolic link loop"):
            resolved(looping)
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert follow_links(tmp_path / "link" / "missing.csv") == tmp_path / "real" / "missing.csv"
