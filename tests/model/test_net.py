import numpy as np
import pytest

torch = pytest.importorskip("torch")

from livetrack.model import MAP_CHANNELS, LocalizationNet, NetConfig, count_parameters  # noqa: E402


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return LocalizationNet(NetConfig()).eval()


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((1, 1, 37, 53), (1, 5, 19, 27)),
        ((1, 1, 1, 1), (1, 5, 1, 1)),
        ((3, 1, 64, 66), (3, 5, 32, 33)),
    ],
)
def test_output_shape_on_odd_sizes(net, shape, expected):
    with torch.no_grad():
        out = net(torch.randn(*shape))
    assert tuple(out.shape) == expected
    assert torch.isfinite(out).all()


def test_forward_matches_padded_graph_on_aligned_input(net):
    x = torch.randn(2, 1, 40, 48)
    with torch.no_grad():
        assert torch.allclose(net(x), net.forward_padded(x), atol=1e-6)


def test_padding_is_background_for_the_visible_area(net):
    # Cropping a padded output must equal the output on the unpadded frame.
    x = torch.randn(1, 1, 37, 53)
    padded = torch.nn.functional.pad(x, (0, 3, 0, 3))
    with torch.no_grad():
        a = net(x)
        b = net.forward_padded(padded)[:, :, :19, :27]
    assert torch.allclose(a, b, atol=1e-6)


def test_size_is_tens_of_thousands_of_parameters(net):
    assert 10_000 <= count_parameters(net) <= 200_000
    assert len(MAP_CHANNELS) == 5


def test_log_sigma_has_a_soft_floor(net):
    from livetrack.model._decode import floor_log_sigma as floor_np
    from livetrack.model._net import floor_log_sigma

    with torch.no_grad():
        out = net(torch.randn(1, 1, 16, 16) * 1e4)
        floored = floor_log_sigma(out[:, 3:])
    assert np.isfinite(out.numpy()).all()
    assert float(floored.min()) >= -6.0
    # The loss (torch) and decoding (numpy) apply the same floor.
    np.testing.assert_allclose(floored.numpy(), floor_np(out[:, 3:].numpy()), rtol=1e-5, atol=1e-5)


def test_folding_batchnorm_keeps_the_output():
    from livetrack.model._net import fold_batchnorm

    torch.manual_seed(1)
    net = LocalizationNet(NetConfig())
    net.train()
    with torch.no_grad():  # populate non-trivial running statistics
        for _ in range(3):
            net(torch.randn(4, 1, 32, 32) * 3 + 1)
    net.eval()
    folded = fold_batchnorm(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(2, 1, 36, 44)
    with torch.no_grad():
        assert torch.allclose(folded(x), net(x), atol=1e-4)


def test_unknown_layout_is_refused():
    with pytest.raises(ValueError, match="layout"):
        NetConfig(layout="resnet")


def test_dilated_layout_has_no_context_branch_and_sees_far():
    net = LocalizationNet(NetConfig(layout="dilated", depth_s2=3)).eval()
    assert not hasattr(net, "down") and not hasattr(net, "up")
    assert [layer[0].dilation for layer in net.s2] == [(1, 1), (2, 2), (4, 4)]
    with torch.no_grad():
        out = net(torch.randn(1, 1, 37, 53))
        assert tuple(out.shape) == (1, 5, 19, 27)
        # A change 12 px away still reaches the centre cell (dilations 1, 2, 4 at stride 2).
        x = torch.zeros(1, 1, 64, 64)
        y = x.clone()
        y[0, 0, 32, 44] = 50.0
        assert not torch.allclose(net(x)[0, :, 16, 16], net(y)[0, :, 16, 16])
