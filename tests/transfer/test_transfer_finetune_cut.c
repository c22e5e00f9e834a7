/* tests/transfer/test_transfer_finetune_cut.c - `--fine-tune N` cuts the new
 * backbones before their last N blocks: MobileNetV2's block_16 back to
 * block_1, ResNet50's 16 bottlenecks across its four stages (3, 4, 6, 3),
 * and refuses a count the backbone does not have. */
#include "test_util.h"

#include "engine/arch.h"
#include "transfer/transfer_finetune.h"

static void expect_cut(const model *m, const char *backbone, int blocks, const char *want)
{
    cd_err err;
    char cut[LAYER_NAME_MAX];
    if (transfer_finetune_cut(m, backbone, blocks, cut, sizeof cut, &err) != 0)
        fail_msg("%s %d: %s", backbone, blocks, err.msg);
    assert_string_equal(cut, want);
}

static void expect_refused(const model *m, const char *backbone, int blocks)
{
    cd_err err;
    char cut[LAYER_NAME_MAX];
    assert_int_equal(transfer_finetune_cut(m, backbone, blocks, cut, sizeof cut, &err), -1);
    assert_int_equal(err.code, CD_ERR_INVALID);
}

static void test_mobilenetv2_blocks_cut_before_block_expand(void **state)
{
    (void)state;
    cd_err err;
    model *m = arch_mobilenetv2(64, &err);
    assert_non_null(m);
    expect_cut(m, "mobilenetv2", 1, "block_15_add");          /* block_16 + Conv_1 */
    expect_cut(m, "mobilenetv2", 3, "block_13_project_BN");   /* stride 2: no add */
    expect_cut(m, "mobilenetv2", 16, "expanded_conv_project_BN");
    expect_refused(m, "mobilenetv2", 0);
    expect_refused(m, "mobilenetv2", 17);
    model_free(m);
}

static void test_efficientnetb0_blocks_cut_before_block_expand(void **state)
{
    (void)state;
    cd_err err;
    model *m = arch_efficientnetb0(64, &err);
    assert_non_null(m);
    expect_cut(m, "efficientnetb0", 1, "block6d_add");         /* block7a + top */
    expect_cut(m, "efficientnetb0", 2, "block6c_add");
    expect_cut(m, "efficientnetb0", 5, "block5c_add");         /* all of stage 6 */
    expect_cut(m, "efficientnetb0", 6, "block5b_add");
    expect_cut(m, "efficientnetb0", 11, "block3b_add");        /* stage 4 from 4a */
    expect_cut(m, "efficientnetb0", 14, "block2a_project_bn");  /* stride 2: no add */
    expect_cut(m, "efficientnetb0", 15, "block1a_project_bn");
    expect_cut(m, "efficientnetb0", 16, "stem_activation");
    expect_refused(m, "efficientnetb0", 0);
    expect_refused(m, "efficientnetb0", 17);
    model_free(m);
}

static void test_resnet50_blocks_cross_stages(void **state)
{
    (void)state;
    cd_err err;
    model *m = arch_resnet50(64, &err);
    assert_non_null(m);
    expect_cut(m, "resnet50", 1, "conv5_block2_out");
    expect_cut(m, "resnet50", 3, "conv4_block6_out");
    expect_cut(m, "resnet50", 4, "conv4_block5_out");
    expect_cut(m, "resnet50", 9, "conv3_block4_out");
    expect_cut(m, "resnet50", 13, "conv2_block3_out");
    expect_cut(m, "resnet50", 16, "pool1_pool");
    expect_refused(m, "resnet50", 17);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mobilenetv2_blocks_cut_before_block_expand),
        cmocka_unit_test(test_efficientnetb0_blocks_cut_before_block_expand),
        cmocka_unit_test(test_resnet50_blocks_cross_stages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
